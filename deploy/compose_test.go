// Package deploy_test checks docker-compose.yml and the files it mounts
// without Docker: what `docker compose up` would only discover at run time.
package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/keysmith/keysmith/config"
)

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// repo turns a path relative to the repository root into one relative to
// this package's directory, where `go test` runs.
func repo(path string) string { return filepath.Join("..", filepath.FromSlash(path)) }

func loadCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	b, err := os.ReadFile(repo("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c, string(b)
}

// mounts maps a service's container paths to their host sources.
func mounts(s service) map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			m[parts[1]] = parts[0]
		}
	}
	return m
}

// published maps a service's published host ports to container ports.
func published(s service) map[string]string {
	m := map[string]string{}
	for _, p := range s.Ports {
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		if len(parts) >= 2 {
			m[parts[len(parts)-2]] = parts[len(parts)-1]
		}
	}
	return m
}

func TestComposeServices(t *testing.T) {
	c, _ := loadCompose(t)
	for _, name := range []string{"postgres", "temporal-schema", "temporal", "temporal-namespace",
		"temporal-ui", "migrate", "api", "worker"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	conditions := map[string]bool{"service_started": true, "service_healthy": true, "service_completed_successfully": true}
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			case !conditions[d.Condition]:
				t.Errorf("%s depends on %s with condition %q", name, dep, d.Condition)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	for dep, cond := range map[string]string{"migrate": "service_completed_successfully",
		"temporal-namespace": "service_completed_successfully", "temporal": "service_healthy"} {
		for _, name := range []string{"api", "worker"} {
			if got := c.Services[name].DependsOn[dep].Condition; got != cond {
				t.Errorf("%s: depends_on %s: condition %q, want %q", name, dep, got, cond)
			}
		}
	}
	if got := c.Services["migrate"].DependsOn["postgres"].Condition; got != "service_healthy" {
		t.Errorf("migrate: depends_on postgres: condition %q, want service_healthy", got)
	}
}

func TestKeysmithServices(t *testing.T) {
	c, _ := loadCompose(t)
	api := c.Services["api"]
	if api.Build == nil || api.Image == "" {
		t.Fatal("api: needs both build and image")
	}
	if _, err := os.Stat(repo(filepath.Join(api.Build.Context, api.Build.Dockerfile))); err != nil {
		t.Errorf("api: build: %v", err)
	}
	for name, command := range map[string]string{"migrate": "migrate", "api": "serve", "worker": "worker"} {
		s := c.Services[name]
		if s.Image != api.Image || s.Build == nil || *s.Build != *api.Build {
			t.Errorf("%s: image/build differ from the api's: all three run the same image", name)
		}
		if strings.Join(s.Command, " ") != command {
			t.Errorf("%s: command %q, want [%s]", name, s.Command, command)
		}
		if s.Environment["KEYSMITH_DATABASE_URL"] == "" {
			t.Errorf("%s: KEYSMITH_DATABASE_URL is not set", name)
		}
	}
	for _, name := range []string{"api", "worker"} {
		s := c.Services[name]
		if s.Environment["TEMPORAL_ADDRESS"] != "temporal:7233" {
			t.Errorf("%s: TEMPORAL_ADDRESS = %q", name, s.Environment["TEMPORAL_ADDRESS"])
		}
		if cfg := s.Environment["KEYSMITH_CONFIG"]; mounts(s)[cfg] == "" {
			t.Errorf("%s: KEYSMITH_CONFIG %q is not mounted", name, cfg)
		}
	}
	worker := c.Services["worker"]
	if dir := worker.Environment["KEYSMITH_KEYS_DIR"]; mounts(worker)[dir] == "" {
		t.Errorf("worker: KEYSMITH_KEYS_DIR %q is not mounted", dir)
	}
	if got := published(api)["8080"]; got != "8080" {
		t.Errorf("api: host port 8080 -> %q, want container port 8080", got)
	}
	if got := published(c.Services["temporal-ui"])["8233"]; got != "8080" {
		t.Errorf("temporal-ui: host port 8233 -> %q, want container port 8080", got)
	}

	// The healthcheck uses wget, which distroless lacks; the non-root user is
	// the one deploy/keys/README.md tells to own the signing key.
	dockerfile, err := os.ReadFile(repo("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(dockerfile), -1)
	if len(froms) == 0 || !strings.HasPrefix(froms[len(froms)-1][1], "alpine:") ||
		api.Healthcheck == nil || !strings.Contains(strings.Join(api.Healthcheck.Test, " "), "wget") {
		t.Error("api: the healthcheck needs wget from an alpine runtime image")
	}
	if !regexp.MustCompile(`(?m)^USER 10001\b`).Match(dockerfile) {
		t.Error("Dockerfile: the runtime image must run as USER 10001")
	}
}

// TestTemporalVersions: the schema tool must match the server it prepares.
func TestTemporalVersions(t *testing.T) {
	c, _ := loadCompose(t)
	server := strings.TrimPrefix(c.Services["temporal"].Image, "temporalio/server:")
	if !strings.HasPrefix(server, "1.29.") {
		t.Fatalf("temporal: image %q, want temporalio/server:1.29.x", c.Services["temporal"].Image)
	}
	for _, name := range []string{"temporal-schema", "temporal-namespace"} {
		tag := strings.TrimPrefix(c.Services[name].Image, "temporalio/admin-tools:")
		if tag != server && !strings.HasPrefix(tag, server+"-") {
			t.Errorf("%s: image %q does not match temporalio/server:%s", name, c.Services[name].Image, server)
		}
	}
}

func TestNoSecretsInCompose(t *testing.T) {
	c, text := loadCompose(t)
	secretName := regexp.MustCompile(`PASSWORD|PWD|SECRET|API_KEY|TOKEN`)
	// ${VAR}, ${VAR:-}, ${VAR-}, ${VAR:?message}: never a default value.
	reference := regexp.MustCompile(`^\$\{[A-Z][A-Z0-9_]*(:?-|:?\?[^}]*)?\}$`)
	urlPassword := regexp.MustCompile(`://[^:/@]+:([^@]*)@`)
	for name, s := range c.Services {
		for k, v := range s.Environment {
			if secretName.MatchString(k) && !reference.MatchString(v) {
				t.Errorf("%s: %s must come from the environment as ${...}, not %q", name, k, v)
			}
			if m := urlPassword.FindStringSubmatch(v); m != nil && !reference.MatchString(m[1]) {
				t.Errorf("%s: %s holds a literal password", name, k)
			}
		}
	}
	// Every required variable is documented in the env template.
	example, err := os.ReadFile("env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*):\?`).FindAllStringSubmatch(text, -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).Match(example) {
			t.Errorf("deploy/env.example does not list %s, which docker-compose.yml requires", m[1])
		}
	}
}

func TestMountsExist(t *testing.T) {
	c, _ := loadCompose(t)
	for name, s := range c.Services {
		for target, source := range mounts(s) {
			switch {
			case strings.HasPrefix(source, "./") || strings.HasPrefix(source, "../"):
				if _, err := os.Stat(repo(source)); err != nil {
					t.Errorf("%s: mount %s -> %s: %v", name, source, target, err)
				}
			case filepath.IsAbs(source):
				t.Errorf("%s: mount of host path %s: keep mounts inside the repository", name, source)
			default:
				if _, ok := c.Volumes[source]; !ok {
					t.Errorf("%s: volume %s is not declared under volumes:", name, source)
				}
			}
		}
	}
}

func TestTemporalDynamicConfig(t *testing.T) {
	c, _ := loadCompose(t)
	temporal := c.Services["temporal"]
	path := temporal.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	if !filepath.IsAbs(path) {
		path = "/etc/temporal/" + path // the image's working directory
	}
	source := mounts(temporal)[path]
	if source == "" {
		t.Fatalf("temporal: DYNAMIC_CONFIG_FILE_PATH %s is not mounted", path)
	}
	b, err := os.ReadFile(repo(source))
	if err != nil {
		t.Fatal(err)
	}
	var dc map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	if err := yaml.Unmarshal(b, &dc); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	for key, values := range dc {
		if len(values) == 0 {
			t.Errorf("%s: %s has no values", source, key)
		}
	}
	// The API issues keys with Update-with-Start.
	for _, key := range []string{"frontend.enableUpdateWorkflowExecution", "frontend.enableExecuteMultiOperation"} {
		if v := dc[key]; len(v) != 1 || v[0].Value != true {
			t.Errorf("%s: %s must be true", source, key)
		}
	}
}

// TestExampleConfig: the shipped keysmith.yaml is refused as it is, naming
// the placeholder password, so that nobody goes live with it; with real
// hashes in its place it loads.
func TestExampleConfig(t *testing.T) {
	_, err := config.Load("keysmith.yaml")
	if err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("config.Load(example) = %v, want an error about the placeholder hash", err)
	}
	doc, err := os.ReadFile("keysmith.yaml")
	if err != nil {
		t.Fatal(err)
	}
	real, err := bcrypt.GenerateFromPassword([]byte("a-real-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	fixed := regexp.MustCompile(`\$2a\$10\$[./A-Za-z0-9]{53}`).ReplaceAllLiteral(doc, real)
	if _, err := config.Parse(fixed); err != nil {
		t.Errorf("the example with real hashes: %v", err)
	}
}
