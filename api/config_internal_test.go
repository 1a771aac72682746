package api

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
)

// lineConfig is testenv's configuration, edited and parsed again.
func lineConfig(t *testing.T, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg, err := testenv.Config()
	require.NoError(t, err)
	if edit == nil {
		return cfg
	}
	edit(cfg)
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	cfg, err = config.Parse(b)
	require.NoError(t, err, "config:\n%s", b)
	return cfg
}
