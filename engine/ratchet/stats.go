package ratchet

import (
	"sort"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/normalize"
)

// stats accumulates one worker's counts; workers' stats are summed, so the
// totals never depend on how records were spread over workers.
type stats struct {
	in, rejected map[string]int64
	rules        map[[2]string]int64
	norm         normalize.Stats
}

func newStats() *stats {
	return &stats{in: map[string]int64{}, rejected: map[string]int64{}, rules: map[[2]string]int64{}}
}

// reject counts a record rejected by stage for reasons rs (each rule once).
func (s *stats) reject(stage string, rs []finding.Finding) {
	s.rejected[stage]++
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.Rule] {
			seen[r.Rule] = true
			s.rules[[2]string{stage, r.Rule}]++
		}
	}
}

func (s *stats) add(o *stats) {
	for k, v := range o.in {
		s.in[k] += v
	}
	for k, v := range o.rejected {
		s.rejected[k] += v
	}
	for k, v := range o.rules {
		s.rules[k] += v
	}
	s.norm.Add(o.norm)
}

func (s *stats) stageStats() []actions.StageStat {
	out := make([]actions.StageStat, 0, len(finding.Stages))
	for _, n := range finding.Stages {
		out = append(out, actions.StageStat{Stage: n, In: s.in[n], Rejected: s.rejected[n]})
	}
	return out
}

func (s *stats) ruleCounts() []actions.RuleCount {
	out := make([]actions.RuleCount, 0, len(s.rules))
	for k, v := range s.rules {
		out = append(out, actions.RuleCount{Stage: k[0], Rule: k[1], Records: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Records != out[j].Records {
			return out[i].Records > out[j].Records
		}
		if out[i].Stage != out[j].Stage {
			return out[i].Stage < out[j].Stage
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}
