package testenv

import (
	"bytes"
	"sync"
)

// LogBuffer is a bytes.Buffer safe for a logger that several goroutines
// (the API's handlers, Temporal's client) write to, for tests that read
// what was logged.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
