package app

import (
	"flag"
	"strings"
	"testing"
)

// validated binds a Config to no flags, sets the variables given and
// validates it.
func validated(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c Config
	if err := c.Bind(flag.NewFlagSet("test", flag.ContinueOnError)); err != nil {
		return nil, err
	}
	return &c, c.Validate()
}

func TestReturnPathSetting(t *testing.T) {
	tests := []struct {
		name, value, want, wantErr string
	}{
		{name: "unset", value: "", want: ""},
		{name: "a bare address", value: " bounces@shop.example ", want: "bounces@shop.example"},
		{name: "a display name", value: "Shop <bounces@shop.example>", wantErr: "HERALD_RETURN_PATH"},
		{name: "already tagged", value: "bounces+x@shop.example", wantErr: "HERALD_RETURN_PATH"},
		{name: "not an address", value: "bounces", wantErr: "HERALD_RETURN_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := validated(t, map[string]string{"HERALD_RETURN_PATH": tt.value})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ReturnPath != tt.want {
				t.Errorf("ReturnPath = %q, want %q", c.ReturnPath, tt.want)
			}
		})
	}
}
