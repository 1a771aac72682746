package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
)

// lineConfig is testenv's configuration, edited and parsed again.
func lineConfig(t *testing.T, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg, err := testenv.ConfigWith(edit)
	require.NoError(t, err)
	return cfg
}
