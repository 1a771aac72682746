package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestWebhookAckBench measures a webhook's time from arrival to
// acknowledgement (make webhook-bench): KEYSMITH_WEBHOOK_CALLS FastSpring
// webhooks, each a new order.completed of one licensed item, at 1 and 8
// at once, beside as many ShareIt key generator calls (which wait for the
// key) on the same stack, and reports p50/p99 of each and their ratio.
func TestWebhookAckBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("KEYSMITH_WEBHOOK_CALLS"))
	if n <= 0 {
		t.Skip("set KEYSMITH_WEBHOOK_CALLS (make webhook-bench)")
	}
	s := newStack(t)
	webhook := func(i int) (int, string) {
		ref := s.purchase(i)
		return s.webhook(fmt.Sprintf(`{"events":[{"id":"evt-%[1]s","type":"order.completed","created":1796119200000,
			"data":{"id":"ord-%[1]s","reference":%[1]q,"completed":true,"customer":{"first":"Bo","last":"Bench","email":"bench@example.com"},
			"items":[{"product":"demo-app","quantity":1}]}}]}`, ref), "")
	}
	keyGenerator := func(i int) (int, string) { return s.post(getKey, qlmQuery, orderForm(s.purchase(i), 1)) }
	run := func(name string, c, base int, call func(int) (int, string)) []time.Duration {
		took := make([]time.Duration, n)
		var wg sync.WaitGroup
		next := make(chan int)
		for range c {
			wg.Go(func() {
				for i := range next {
					start := time.Now()
					if status, body := call(base + i); status != http.StatusOK {
						t.Errorf("%s %d: %d %q", name, i, status, body)
					}
					took[i] = time.Since(start)
				}
			})
		}
		start := time.Now()
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		slices.Sort(took)
		t.Logf("%-14s c=%d: n=%d p50 %6.2f ms p99 %6.2f ms, %.1f/s", name, c, n, ms(took[n*50/100]), ms(took[n*99/100]),
			float64(n)/time.Since(start).Seconds())
		return took
	}
	// A warm-up, so that neither side pays for the first workflow task.
	run("warm-up", 1, 9_000_000, webhook)
	for i, c := range []int{1, 8} {
		base := (i + 1) * 1_000_000
		ack := run("webhook ack", c, base, webhook)
		key := run("key generator", c, base+500_000, keyGenerator)
		t.Logf("c=%d: webhook ack / key generator answer: p50 %.2fx, p99 %.2fx", c,
			float64(ack[n*50/100])/float64(key[n*50/100]), float64(ack[n*99/100])/float64(key[n*99/100]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
