package eventlog

import (
	"fmt"
	"strings"
)

// SubjectPrefix starts every subject of the log.
const SubjectPrefix = "khist.ev"

// Subject returns the subject of an object's versions:
// khist.ev.CLUSTER.GROUP.KIND.NAMESPACE.NAME, each token encoded with EncodeToken (the core
// group and cluster-scoped namespaces are empty and encode as "_").
func Subject(cluster, group, kind, namespace, name string) string {
	var b strings.Builder
	b.Grow(len(SubjectPrefix) + len(cluster) + len(group) + len(kind) + len(namespace) + len(name) + 16)
	b.WriteString(SubjectPrefix)
	for _, t := range [...]string{cluster, group, kind, namespace, name} {
		b.WriteByte('.')
		writeToken(&b, t)
	}
	return b.String()
}

// Filter returns a subject filter for the given cluster, group, kind and namespace; an argument
// equal to "*" matches any value (cluster-scoped objects have namespace ""). Names are not
// filtered by subject: use Subject for one object.
func Filter(cluster, group, kind, namespace string) string {
	var b strings.Builder
	b.WriteString(SubjectPrefix)
	for _, t := range [...]string{cluster, group, kind, namespace} {
		b.WriteByte('.')
		if t == "*" {
			b.WriteByte('*')
		} else {
			writeToken(&b, t)
		}
	}
	b.WriteString(".*")
	return b.String()
}

// EncodeToken encodes s as one NATS subject token, reversibly: ASCII letters, digits and '-'
// stay as they are, every other byte (dots, '_', '%', wildcards, spaces, non-ASCII) becomes %XX,
// and the empty string becomes "_".
func EncodeToken(s string) string {
	var b strings.Builder
	writeToken(&b, s)
	return b.String()
}

const hexDigits = "0123456789ABCDEF"

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

func writeToken(b *strings.Builder, s string) {
	if s == "" {
		b.WriteByte('_')
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

// DecodeToken reverses EncodeToken.
func DecodeToken(t string) (string, error) {
	if t == "_" {
		return "", nil
	}
	if t == "" {
		return "", fmt.Errorf("%w: empty token", ErrBadToken)
	}
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case plain(c):
			b.WriteByte(c)
		case c == '%' && i+2 < len(t):
			hi, lo := unhex(t[i+1]), unhex(t[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%w: %q: bad escape at %d", ErrBadToken, t, i)
			}
			v := byte(hi<<4 | lo)
			if plain(v) {
				return "", fmt.Errorf("%w: %q: %%%02X need not be escaped", ErrBadToken, t, v)
			}
			b.WriteByte(v)
			i += 2
		default:
			return "", fmt.Errorf("%w: %q: unexpected %q at %d", ErrBadToken, t, c, i)
		}
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// ParseSubject splits a log subject into its decoded parts.
func ParseSubject(subj string) (cluster, group, kind, namespace, name string, err error) {
	rest, ok := strings.CutPrefix(subj, SubjectPrefix+".")
	if !ok {
		return "", "", "", "", "", fmt.Errorf("%w: subject %q does not start with %s", ErrBadToken, subj, SubjectPrefix)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 5 {
		return "", "", "", "", "", fmt.Errorf("%w: subject %q has %d tokens after the prefix, want 5", ErrBadToken, subj, len(parts))
	}
	var out [5]string
	for i, p := range parts {
		if out[i], err = DecodeToken(p); err != nil {
			return "", "", "", "", "", err
		}
	}
	return out[0], out[1], out[2], out[3], out[4], nil
}
