package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	in, err := os.Open("testdata/events.json")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	if err := summarize(in, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"# github.com/example/broken [not JSON, printed as is]\n",
		"    x_test.go:3: hello\n--- PASS: TestA (0.05s)\n>>> PASS TestA (0.1s): 1 passed, 0 failed, 0 skipped so far\n",
		">>> FAIL TestB (0.0s): 1 passed, 1 failed, 0 skipped so far\n",
		">>> SKIP TestC (0.0s): 1 passed, 1 failed, 1 skipped so far\n",
		"RESULT          TEST         TIME\n" +
			"PASS            TestA        0.1s\n" +
			"FAIL            TestB        0.0s\n" +
			"FAIL              TestB/bad  0.0s\n" +
			"SKIP            TestC        0.0s\n" +
			"DID NOT FINISH  TestD        -\n",
		"=== What each failed test printed last (at most 15 lines; all of it above)\n--- TestB/bad\n    x_test.go:4: boom\n",
		"FAIL package example.com/ts after 0.1s\n",
		"Tests: 4 total, 1 passed, 1 failed, 1 skipped, 1 did not finish, in 0s\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
