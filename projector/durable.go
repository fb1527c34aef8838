package projector

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// ViewsDurable returns the name of the durable consumer that follows the log into the views
// file at path, one of its own: many processes, on many machines, may each build their views
// from one shared stream, and two that read with the same durable consumer would move each
// other's position. The name is DefaultDurable with a random suffix, kept beside the views in
// path + ".consumer" so that a restarted process follows with the same consumer.
func ViewsDurable(path string) (string, error) {
	file := path + ".consumer"
	if b, err := os.ReadFile(file); err == nil {
		if name := strings.TrimSpace(string(b)); name != "" {
			return name, nil
		}
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("views consumer name: %w", err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	name := DefaultDurable + "-" + hex.EncodeToString(b)
	if err := os.WriteFile(file, []byte(name+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("views consumer name: %w (is the data directory writable?)", err)
	}
	return name, nil
}
