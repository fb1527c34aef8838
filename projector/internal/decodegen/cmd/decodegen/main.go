// Command decodegen writes object_decode_gen.go from object.go, in the current directory (run
// by go generate in projector).
package main

import (
	"fmt"
	"os"

	"github.com/khist/khist/projector/internal/decodegen"
)

func main() {
	src, err := os.ReadFile("object.go")
	if err == nil {
		src, err = decodegen.Generate(src, "Object")
	}
	if err == nil {
		err = os.WriteFile("object_decode_gen.go", src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "decodegen:", err)
		os.Exit(1)
	}
}
