package eventlog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// tokenFile holds the token that the embedded server requires of every client. It is made on
// first use, readable by the data directory's owner only (0600, as the store and the views), so
// that the server's loopback port is no more open than the files: another local user cannot
// read, publish or purge through it. A second khist process on the data directory reads it
// beside the server's address (addrFile).
const tokenFile = "nats.token"

// embeddedToken returns the data directory's token, making a new one when there is none, or
// when the file could be read by others (its mode allows group or others): a token others may
// have read is replaced.
func embeddedToken(dataDir string, logger *slog.Logger) (string, error) {
	path := filepath.Join(dataDir, tokenFile)
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 == 0:
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("data directory: %w", err)
		}
		if t := strings.TrimSpace(string(b)); len(t) >= 32 {
			return t, nil
		}
	case err == nil:
		logger.Warn(fmt.Sprintf("%s could be read by other users (mode %v): it is replaced by a new token", path, fi.Mode()))
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("data directory: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	t := hex.EncodeToString(b)
	f, err := os.CreateTemp(dataDir, tokenFile+".*.tmp") // 0600
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	_, err = f.WriteString(t + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("data directory: %w", err)
	}
	return t, nil
}

// readToken returns the token of the server another khist process runs on the data directory,
// or "" when there is none (a server of an earlier khist, which asks for none).
func readToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, tokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("data directory %s: %w: run khist as the user who owns it", dataDir, err)
	}
	return strings.TrimSpace(string(b)), nil
}
