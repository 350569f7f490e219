package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestBatchJSONWritesTheBytesPureJSONWouldGive(t *testing.T) {
	cases := []struct {
		name   string
		items  []gin.H
		counts map[string]int
	}{
		{"no items", []gin.H{}, map[string]int{"created": 0, "updated": 0, "failed": 0}},
		{"results and errors", []gin.H{
			{"index": 0, "status": 201, "contact": map[string]any{"email": "a@example.com", "first_name": "Zoë <b>&</b>"}},
			{"index": 1, "status": 400, "error": apiError{Message: "email: \"x\" is not an address", Path: "[1].email"}},
		}, map[string]int{"created": 1, "updated": 0, "failed": 1}},
		{"counts that sort after data", []gin.H{{"index": 0, "status": 200}}, map[string]int{"stored": 1, "failed": 0}},
	}
	gin.SetMode(gin.TestMode)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := httptest.NewRecorder()
			wc, _ := gin.CreateTestContext(want)
			h := gin.H{"data": tc.items}
			for k, v := range tc.counts {
				h[k] = v
			}
			wc.PureJSON(http.StatusOK, h)

			got := httptest.NewRecorder()
			gc, _ := gin.CreateTestContext(got)
			gc.Render(http.StatusOK, batchJSON{items: tc.items, counts: tc.counts})

			if got.Body.String() != want.Body.String() {
				t.Fatalf("body\n got %s\nwant %s", got.Body.String(), want.Body.String())
			}
			if g, w := got.Header().Get("Content-Type"), want.Header().Get("Content-Type"); g != w {
				t.Fatalf("Content-Type %q, want %q", g, w)
			}
			if got.Code != http.StatusOK {
				t.Fatalf("status %d", got.Code)
			}
		})
	}
}
