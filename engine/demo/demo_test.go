package demo_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
)

func TestGeneratorIsDeterministic(t *testing.T) {
	a, b := enginetest.GenInput(t, 1000, 9), enginetest.GenInput(t, 1000, 9)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different bytes")
	}
	if n := bytes.Count(a, []byte("\n")); n != 1000 {
		t.Fatalf("%d lines", n)
	}
	sc := bufio.NewScanner(bytes.NewReader(a))
	valid := 0
	for sc.Scan() {
		if json.Valid(sc.Bytes()) {
			valid++
		}
	}
	if valid < 900 || valid == 1000 {
		t.Fatalf("%d of 1000 generated lines are valid JSON; want most but not all", valid)
	}
}
