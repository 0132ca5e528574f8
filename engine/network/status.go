package network

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sort"
	"time"
)

// Finding is one thing the hub found wrong with what a site published.
type Finding struct {
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
	Seq    uint64    `json:"seq,omitempty"` // the message's sequence in the stream (0: found by status)
	At     time.Time `json:"at"`
}

// SiteStatus is what the hub holds of one site.
type SiteStatus struct {
	Site     string `json:"site"`
	Size     int64  `json:"size"`     // the head: the largest checkpoint the hub holds
	Root     string `json:"root"`     // its root, base64
	Cosigned int64  `json:"cosigned"` // the largest size the hub cosigned
	// Cosignature is the hub's cosignature of the head (a signed-note
	// line, c2sp.org/tlog-cosignature), "" when it is not cosigned.
	Cosignature string    `json:"cosignature,omitempty"`
	Messages    int64     `json:"messages"`
	Batches     int64     `json:"batches"`     // batch signatures the hub holds
	LastSeen    time.Time `json:"last_seen"`   // when the hub stored the site's last message (zero: never)
	Lag         float64   `json:"lag_seconds"` // now - last seen
	Findings    []Finding `json:"findings"`
}

// Status reads what the hub holds of every site of its configuration, and
// of any other that published (the hub's state, read-only: it runs beside
// a running hub). A site silent for longer than quiet_after has a quiet
// finding.
func Status(ctx context.Context, c HubConfig, now time.Time) ([]SiteStatus, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	path := filepath.Join(c.Dir, "hub.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	by := map[string]*SiteStatus{}
	for id := range c.Sites {
		by[id] = &SiteStatus{Site: id, Findings: []Finding{}}
	}
	site := func(id string) *SiteStatus {
		if by[id] == nil {
			by[id] = &SiteStatus{Site: id, Findings: []Finding{}}
		}
		return by[id]
	}
	rows, err := db.QueryContext(ctx, "SELECT site, last_seen, messages FROM sites")
	if err != nil {
		return nil, fmt.Errorf("%s: %v (has the hub run?)", path, err)
	}
	for rows.Next() {
		var id, seen string
		var n int64
		if err := rows.Scan(&id, &seen, &n); err != nil {
			rows.Close()
			return nil, err
		}
		s := site(id)
		s.Messages = n
		s.LastSeen, _ = time.Parse(time.RFC3339Nano, seen)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT c.site, c.size, c.root, c.cosignature, (SELECT MAX(size) FROM checkpoints k WHERE k.site = c.site AND k.cosignature IS NOT NULL)
		FROM checkpoints c WHERE c.size = (SELECT MAX(size) FROM checkpoints k WHERE k.site = c.site)`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var size int64
		var root []byte
		var cos sql.NullInt64
		var line []byte
		if err := rows.Scan(&id, &size, &root, &line, &cos); err != nil {
			rows.Close()
			return nil, err
		}
		s := site(id)
		s.Size, s.Root, s.Cosigned, s.Cosignature = size, base64.StdEncoding.EncodeToString(root), cos.Int64, string(line)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT site, COUNT(*) FROM batches GROUP BY site")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		site(id).Batches = n
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT site, kind, detail, seq, at FROM findings WHERE resolved = 0 ORDER BY seq, kind")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var f Finding
		var id, at string
		if err := rows.Scan(&id, &f.Kind, &f.Detail, &f.Seq, &at); err != nil {
			rows.Close()
			return nil, err
		}
		f.At, _ = time.Parse(time.RFC3339Nano, at)
		s := site(id)
		s.Findings = append(s.Findings, f)
	}
	rows.Close()
	out := make([]SiteStatus, 0, len(by))
	for _, s := range by {
		if !s.LastSeen.IsZero() {
			s.Lag = now.Sub(s.LastSeen).Seconds()
		}
		if _, known := c.Sites[s.Site]; known && (s.LastSeen.IsZero() || now.Sub(s.LastSeen) > c.QuietAfter) {
			d := "the site has never published"
			if !s.LastSeen.IsZero() {
				d = fmt.Sprintf("nothing from the site for %s, more than quiet_after (%s)", now.Sub(s.LastSeen).Round(time.Second), c.QuietAfter)
			}
			s.Findings = append(s.Findings, Finding{Kind: Quiet, Detail: d, At: now})
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out, nil
}
