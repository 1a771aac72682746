package mail_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/mail"
)

func orderData() mail.Data {
	return mail.Data{
		Keys:         []string{"AAAA-BBBB-CCCC", "DDDD-EEEE-FFFF"},
		ProductName:  "Werkzeug",
		ProductID:    7,
		Major:        2,
		Minor:        1,
		OrderID:      "ST-123456",
		OrderDate:    time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC),
		Seats:        5,
		Features:     "0:3",
		FeatureNames: []string{"Pro", "Export"},
		LicenseModel: "subscription",
		Expires:      time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC),
		FullName:     "Jürgen Müller",
		Email:        "juergen@buyer.example",
		Company:      "Müller GmbH",
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDefaultTemplate(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	subject, text, html, err := tpl.Render(mail.DefaultTemplate, orderData())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if want := "Your license keys for Werkzeug 2.1"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	for _, want := range []string{
		"Hello Jürgen Müller,",
		"Werkzeug 2.1",
		"\n    AAAA-BBBB-CCCC\n    DDDD-EEEE-FFFF\n",
		"ST-123456 of 14 March 2025",
		"Seats:        5\n",
		"Features:     Pro, Export\n",
		"Valid until:  14 March 2026\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"Jürgen Müller", ">AAAA-BBBB-CCCC</p>", ">DDDD-EEEE-FFFF</p>", "ST-123456", "14 March 2026", "Pro, Export"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q:\n%s", want, html)
		}
	}

	// A permanent single-key licence: no expiry line, singular wording.
	d := orderData()
	d.Keys = d.Keys[:1]
	d.Expires = time.Time{}
	d.FeatureNames = nil
	subject, text, _, err = tpl.Render(mail.DefaultTemplate, d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if want := "Your license key for Werkzeug 2.1"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	if strings.Contains(text, "Valid until") || strings.Contains(text, "Features") {
		t.Errorf("text mentions expiry or features it does not have:\n%s", text)
	}
}

func TestTemplateEscapesHTML(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	d := orderData()
	d.FullName = `<script>alert("x")</script>`
	_, _, html, err := tpl.Render(mail.DefaultTemplate, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;") {
		t.Errorf("name not escaped in html:\n%s", html)
	}
}

func TestTemplateDirOverridesAndAdds(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"default.html.tmpl":  `<p>Custom {{.FullName}}</p>`,
		"qlm.subject.tmpl":   "Order {{.OrderID}}\n",
		"qlm.txt.tmpl":       "{{.ActivationKey}}|{{.NumLicenses}}|{{.EnabledFeatures}}|{{.MajorVersion}}.{{.MinorVersion}}|{{.Company}}",
		"README.md":          "not a template",
		".default.txt.tmpl~": "editor backup",
	})
	tpl, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	if names := tpl.Names(); !slices.Equal(names, []string{"default", "qlm"}) {
		t.Errorf("Names() = %v", names)
	}

	_, text, html, err := tpl.Render("default", orderData())
	if err != nil {
		t.Fatal(err)
	}
	if html != "<p>Custom Jürgen Müller</p>" {
		t.Errorf("html %q, want the override", html)
	}
	if !strings.Contains(text, "AAAA-BBBB-CCCC") {
		t.Errorf("text %q, want the built-in text", text)
	}

	subject, text, html, err := tpl.Render("qlm", orderData())
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Order ST-123456" || html != "" {
		t.Errorf("subject %q html %q, want trimmed subject and no html", subject, html)
	}
	if want := "AAAA-BBBB-CCCC\nDDDD-EEEE-FFFF|5|Pro, Export|2.1|Müller GmbH"; text != want {
		t.Errorf("text %q, want %q", text, want)
	}
}

func TestTemplateUnknownName(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := tpl.Render("nope", orderData()); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Render(nope) error %v, want unknown template", err)
	}
}

func TestLoadTemplatesFailsEarly(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error
	}{
		{"syntax error", map[string]string{"default.txt.tmpl": "{{if .Seats}}open"}, "default.txt.tmpl"},
		{"html syntax error", map[string]string{"default.html.tmpl": "{{range .Keys}}"}, "default.html.tmpl"},
		{"unknown field", map[string]string{"default.subject.tmpl": "{{.ActivationKeys}}"}, "ActivationKeys"},
		{"no text part", map[string]string{"promo.subject.tmpl": "Hi"}, "promo.txt.tmpl"},
		{"unknown part", map[string]string{"default.text.tmpl": "Hi"}, "default.text.tmpl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mail.LoadTemplates(writeFiles(t, tt.files))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadTemplates error %v, want one mentioning %q", err, tt.want)
			}
		})
	}

	if _, err := mail.LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadTemplates accepted a missing directory")
	}
}
