package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEExamples runs every example of README.md as written, offline, on the data that
// `make demo` leaves: the commands of `make -n demo` that run khist, then each console block of
// the README whose commands are all khist's (`./bin/khist ...`, `export NAME=VALUE`), in order,
// in a directory that holds the repository's recordings. Each must succeed, and print first the
// line the README shows first. Blocks with other commands (kubectl on a live cluster) are left
// out.
func TestREADMEExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the demo's recordings")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	mk := exec.Command("make", "-s", "-n", "demo")
	mk.Dir = repo
	plan, err := mk.Output()
	if err != nil {
		t.Fatalf("make -n demo: %v", err)
	}
	// The examples' working directory: the recordings they name, nothing else of the repository.
	work := t.TempDir()
	for _, d := range []string{"test", "eventlog"} {
		if err := os.Symlink(filepath.Join(repo, d), filepath.Join(work, d)); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"HOME=" + t.TempDir()}
	khist := func(line string) string {
		t.Helper()
		args, err := shellWords(strings.TrimPrefix(line, "./bin/khist "))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out, err, _ := khistProcessIn(t, work, env, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return out
	}
	ran := 0
	for _, line := range strings.Split(string(plan), "\n") {
		if strings.HasPrefix(line, "./bin/khist ") {
			khist(line)
			ran++
		}
	}
	if ran == 0 {
		t.Fatalf("make -n demo runs no ./bin/khist command:\n%s", plan)
	}

	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for _, block := range consoleBlocks(string(readme)) {
		if !block.ours {
			continue
		}
		for _, c := range block.cmds {
			if v, ok := strings.CutPrefix(c.line, "export "); ok {
				env = append(env, v)
				continue
			}
			out := khist(c.line)
			examples++
			got, _, _ := strings.Cut(out, "\n")
			if c.first != "" && c.first != "..." && strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(c.first), " ") {
				t.Errorf("$ %s\nfirst line: %s\nREADME says: %s", c.line, got, c.first)
			}
		}
	}
	if examples < 10 {
		t.Errorf("ran %d README examples, want 10 or more: are they still in ```console blocks starting with $ ./bin/khist?", examples)
	}
}

type example struct {
	line  string // the command, without "$ "
	first string // the first line of output the README shows, if any
}

type consoleBlock struct {
	cmds []example
	ours bool // every command is ./bin/khist or export
}

// consoleBlocks returns the ```console blocks of a Markdown text.
func consoleBlocks(md string) []consoleBlock {
	var blocks []consoleBlock
	var cur *consoleBlock
	for _, l := range strings.Split(md, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(l) == "```console":
			cur = &consoleBlock{ours: true}
		case cur == nil:
		case strings.HasPrefix(l, "```"):
			blocks = append(blocks, *cur)
			cur = nil
		case strings.HasPrefix(l, "$ "):
			c := strings.TrimPrefix(l, "$ ")
			if !strings.HasPrefix(c, "./bin/khist ") && !strings.HasPrefix(c, "export ") {
				cur.ours = false
			}
			cur.cmds = append(cur.cmds, example{line: c})
		case len(cur.cmds) > 0 && cur.cmds[len(cur.cmds)-1].first == "":
			cur.cmds[len(cur.cmds)-1].first = l
		}
	}
	return blocks
}

// shellWords splits a command line as a POSIX shell does for words in plain, 'single' and
// "double" quotes (no variables, no escapes other than \" in double quotes).
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'' && ch == '\'', quote == '"' && ch == '"':
			quote = 0
		case quote == '"' && ch == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
			w.WriteByte('"')
		case quote != 0:
			w.WriteByte(ch)
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == ' ' || ch == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(ch)
			in = true
		}
	}
	if quote != 0 {
		return nil, errUnclosedQuote
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

var errUnclosedQuote = errors.New("unclosed quote")
