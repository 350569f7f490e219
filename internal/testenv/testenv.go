// Package testenv gives each test its own database and Redis: an SQLite file
// and an embedded Redis by default, or a fresh PostgreSQL schema and a free
// Redis database number when HERALD_TEST_DATABASE_URL and
// HERALD_TEST_REDIS_URL point at real servers (as .ci/run does). Tests call
// it the same way in both cases, so every test runs on both.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"herald/internal/db"
	"herald/internal/embedredis"
)

// Environment variables that switch tests to real servers.
const (
	EnvDatabaseURL = "HERALD_TEST_DATABASE_URL"
	EnvRedisURL    = "HERALD_TEST_REDIS_URL"
)

// Postgres reports whether tests run against a real PostgreSQL.
func Postgres() bool { return os.Getenv(EnvDatabaseURL) != "" }

// Logger discards logs unless HERALD_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// DatabaseURL returns the URL of an empty database that lives as long as
// the test: an SQLite file in the test's temp dir or a new PostgreSQL schema.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		return "sqlite://" + filepath.Join(t.TempDir(), "herald.db")
	}
	schema := "t_" + randomHex(8)
	admin, err := db.Open(context.Background(), base, Logger())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("testenv: create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE")
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", EnvDatabaseURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DB opens a fresh database and runs migrate on it.
func DB(t testing.TB, migrate func(*gorm.DB) error) *gorm.DB {
	t.Helper()
	g, err := db.Open(context.Background(), DatabaseURL(t), Logger())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if sqlDB, err := g.DB(); err == nil {
			sqlDB.Close()
		}
	})
	if migrate != nil {
		if err := migrate(g); err != nil {
			t.Fatalf("testenv: migrate: %v", err)
		}
	}
	return g
}

// RedisURL returns the URL of an empty Redis database for the test: an
// embedded server, or a database number on the real server that no other
// test holds (tests of several packages run at once).
func RedisURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvRedisURL)
	if base == "" {
		srv, err := embedredis.Start("127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		t.Cleanup(srv.Close)
		return srv.URL()
	}
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", EnvRedisURL, err)
	}
	opt.DB = 0
	lockClient := redis.NewClient(opt)
	token := randomHex(8)
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for n := 1; n < 16; n++ {
			key := fmt.Sprintf("herald:testenv:db:%d", n)
			ok, err := lockClient.SetNX(ctx, key, token, 15*time.Minute).Result()
			if err != nil {
				t.Fatalf("testenv: redis: %v", err)
			}
			if !ok {
				continue
			}
			dbOpt := *opt
			dbOpt.DB = n
			c := redis.NewClient(&dbOpt)
			c.FlushDB(ctx)
			t.Cleanup(func() {
				c.FlushDB(ctx)
				c.Close()
				if v, _ := lockClient.Get(ctx, key).Result(); v == token {
					lockClient.Del(ctx, key)
				}
				lockClient.Close()
			})
			u := strings.TrimSuffix(strings.Split(base, "?")[0], "/")
			if i := strings.LastIndex(u, "/"); i > len("redis://") {
				u = u[:i]
			}
			return fmt.Sprintf("%s/%d", u, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: no free Redis database on %s", base)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
