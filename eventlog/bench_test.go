package eventlog

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// body4K is a 4 KB JSON body, random enough not to compress away.
func body4K(r *rand.Rand) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 4096)
	copy(b, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"pad":"`)
	for i := 64; i < len(b)-2; i++ {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	copy(b[len(b)-2:], `"}`)
	return b
}

// BenchmarkPublisher4K publishes 4 KB envelopes through the Publisher: async, bounded in
// flight, every ack checked. Compare with BenchmarkRawPublishAsync4K in the same run.
func BenchmarkPublisher4K(b *testing.B) {
	l := mustOpenLog(b, "")
	body := body4K(rand.New(rand.NewSource(1)))
	p, err := l.NewPublisher(PublisherOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := testEnvelope(i, body)
		e.UID = fmt.Sprint("u", i)
		if err := p.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := p.Stats(); st.Published != b.N {
		b.Fatalf("published %d of %d", st.Published, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkRawPublishAsync4K is the baseline: the same messages (subject, headers, id, body)
// published with jetstream's PublishMsgAsync and a wait for all acks at the end.
func BenchmarkRawPublishAsync4K(b *testing.B) {
	l := mustOpenLog(b, "")
	body := body4K(rand.New(rand.NewSource(1)))
	js, err := jetstream.New(l.Conn(), jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := testEnvelope(i, body)
		e.UID = fmt.Sprint("u", i)
		if _, err := js.PublishMsgAsync(e.Msg(), jetstream.WithMsgID(e.MsgID())); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
