package eventlog_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/khist/khist/eventlog"
)

// Publish one version of a Deployment into an embedded log and read it back.
func Example() {
	dir, _ := os.MkdirTemp("", "khist-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	obj := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","uid":"9f1c","resourceVersion":"42"}}`)
	meta, _ := eventlog.ParseMeta(obj)
	env := meta.Envelope(eventlog.Added, "prod", obj)
	env.Observed = time.Date(2026, 11, 20, 10, 2, 0, 0, time.UTC)

	p, _ := l.NewPublisher(eventlog.PublisherOptions{})
	_ = p.Publish(ctx, env)
	if err := p.Close(ctx); err != nil { // waits for the acknowledgement
		fmt.Println(err)
		return
	}

	_ = l.Read(ctx, eventlog.ReadOptions{}, func(batch []*eventlog.Envelope) error {
		for _, e := range batch {
			fmt.Println(e.Seq, e, "on", eventlog.Subject(e.Cluster, e.Group, e.Kind, e.Namespace, e.Name))
		}
		return nil
	})
	// Output:
	// 1 ADDED Deployment shop/web rv=42 on khist.ev.prod.apps.Deployment.shop.web
}
