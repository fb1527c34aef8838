package main

import (
	"fmt"
	"os"
	"strings"
)

// Secrets for an external NATS server can be given three ways. The flag form (--nats-password,
// --nats-token) is visible to every local user in /proc/PID/cmdline and in `ps`; the
// environment (readable only by the process's user and root) and a file are not.
const (
	envNATSPassword = "KHIST_NATS_PASSWORD"
	envNATSToken    = "KHIST_NATS_TOKEN"
)

// secret is one secret option: the flag, the file flag and the environment variable that can
// give it.
type secret struct {
	flag, fileFlag, env string
	value, file         *string
}

// resolveSecrets fills the password and the token from --nats-password-file /
// --nats-token-file or KHIST_NATS_PASSWORD / KHIST_NATS_TOKEN when their flags are not given.
// Giving a secret both as a flag and as a file is an error; the environment is used only when
// neither is given. It runs once: a command that opens the log twice (import, then its fold)
// finds them resolved.
func (n *natsFlags) resolveSecrets() error {
	if n.resolved {
		return nil
	}
	n.resolved = true
	for _, s := range []secret{
		{"--nats-password", "--nats-password-file", envNATSPassword, &n.Password, &n.PasswordFile},
		{"--nats-token", "--nats-token-file", envNATSToken, &n.Token, &n.TokenFile},
	} {
		if err := s.resolve(); err != nil {
			return err
		}
	}
	return nil
}

// resolve fills the secret's value from its file, or from the environment when neither the
// flag nor the file is given.
func (s secret) resolve() error {
	switch {
	case *s.file != "" && *s.value != "":
		return fmt.Errorf("%s and %s both given: keep %s (the flag's value is visible to other users in /proc)", s.flag, s.fileFlag, s.fileFlag)
	case *s.file != "":
		b, err := os.ReadFile(*s.file)
		if err != nil {
			return fmt.Errorf("%s: %v: give a file that holds the secret", s.fileFlag, err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return fmt.Errorf("%s: %s is empty: write the secret in it", s.fileFlag, *s.file)
		}
		*s.value = v
	case *s.value == "":
		*s.value = os.Getenv(s.env)
	}
	return nil
}
