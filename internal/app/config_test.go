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

func TestBounceMailboxSettings(t *testing.T) {
	tests := []struct {
		name                 string
		mailbox, poll        string
		wantAddr, wantFolder string
		wantPoll             string
		wantErr              string
	}{
		{name: "unset", wantPoll: "1m0s"},
		{name: "imaps with a move folder", mailbox: "imaps://bounces:pw@imap.shop.example/INBOX?move=Done", poll: "30s", wantAddr: "imap.shop.example:993", wantFolder: "INBOX", wantPoll: "30s"},
		{name: "POP3", mailbox: "pop3s://bounces:pw@pop.shop.example", wantErr: "HERALD_BOUNCE_MAILBOX"},
		{name: "a password is never repeated", mailbox: "ftp://bounces:topsecret@h/", wantErr: "HERALD_BOUNCE_MAILBOX"},
		{name: "a poll too often", poll: "1s", wantErr: "HERALD_BOUNCE_POLL"},
		{name: "a poll that is no duration", poll: "often", wantErr: "HERALD_BOUNCE_POLL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"HERALD_BOUNCE_MAILBOX": tt.mailbox}
			if tt.poll != "" {
				env["HERALD_BOUNCE_POLL"] = tt.poll
			}
			c, err := validated(t, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "topsecret") {
					t.Fatalf("err = %v, want one naming %s without the password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.bouncePoll.String() != tt.wantPoll {
				t.Errorf("poll = %s, want %s", c.bouncePoll, tt.wantPoll)
			}
			if tt.wantAddr == "" {
				if c.bounceMailbox != nil {
					t.Errorf("mailbox %+v, want none", c.bounceMailbox)
				}
				return
			}
			if c.bounceMailbox == nil || c.bounceMailbox.Addr != tt.wantAddr || c.bounceMailbox.Folder != tt.wantFolder {
				t.Errorf("mailbox %+v, want %s folder %s", c.bounceMailbox, tt.wantAddr, tt.wantFolder)
			}
		})
	}
}
