package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// outputFile is a document a command writes to a path the user named (--output-file). The
// document goes to a temporary file beside the path and replaces it only when complete
// (Commit), so a failed command (a bad argument, a damaged log, a full disk) leaves an
// existing file as it was and no partial document.
//
//   - A symbolic link is refused unless followSymlinks: writing through it would replace a file
//     elsewhere. When followed, the link's final target is replaced and the link kept.
//   - A new document is created 0600 (masked by the umask, which can only remove bits): a
//     timeline names every object of the cluster. A document that replaces an existing file
//     keeps that file's permissions (and, when run as root, its owner), as a shell redirection
//     would.
//   - A path that exists and is not a regular file (a terminal, /dev/null, a FIFO) is written
//     directly: renaming over it would replace the device.
type outputFile struct {
	*os.File
	path string // the file replaced on Commit ("" when writing directly)
	done bool
}

// createOutput opens the temporary file for the document at path. flag names the option for
// errors ("--output-file").
func createOutput(flag, path string, followSymlinks bool) (*outputFile, error) {
	target := path
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		if !followSymlinks {
			dest, _ := os.Readlink(path)
			return nil, fmt.Errorf("%s: %s is a symbolic link (to %s): give the target's path, or add --follow-symlinks to write through it", flag, path, dest)
		}
		if target, err = resolveLink(path); err != nil {
			return nil, fmt.Errorf("%s: %v: give the target's path", flag, err)
		}
		fi, err = os.Lstat(target)
	}
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("%s: %s is a directory: give a file name", flag, target)
	case err == nil && !fi.Mode().IsRegular():
		// A device or a FIFO: write to it as it is.
		f, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", flag, err)
		}
		return &outputFile{File: f}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %v", flag, err)
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".khist-*.tmp") // 0600, masked by the umask
	if err != nil {
		if u := errors.Unwrap(err); u != nil {
			err = u
		}
		return nil, fmt.Errorf("%s: cannot write in %s: %v", flag, dir, err)
	}
	if fi != nil { // replacing a file: keep its permissions and owner
		f.Chmod(fi.Mode().Perm())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			f.Chown(int(st.Uid), int(st.Gid))
		}
	}
	return &outputFile{File: f, path: target}, nil
}

// resolveLink follows the symbolic links from path to the file they finally name, which need
// not exist.
func resolveLink(path string) (string, error) {
	for range 40 {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink == 0) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// Commit flushes the document to disk and puts it in place of the file at its path.
func (o *outputFile) Commit() error {
	o.done = true
	if o.path == "" {
		return o.File.Close()
	}
	tmp := o.File.Name()
	err := o.File.Sync()
	if cerr := o.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, o.path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Abort discards the document: the file at its path is left as it was. After Commit it does
// nothing.
func (o *outputFile) Abort() {
	if o.done {
		return
	}
	o.done = true
	o.File.Close()
	if o.path != "" {
		os.Remove(o.File.Name())
	}
}
