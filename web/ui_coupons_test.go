package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// multipartForm encodes fields and an optional file as the coupon form
// sends them.
func multipartForm(t *testing.T, fields map[string]string, fileName string, file []byte) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if fileName != "" {
		fw, err := w.CreateFormFile("file", fileName)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	w.Close()
	return b.String(), w.FormDataContentType()
}

func TestCouponUploadAddsPastedAndFileCodesAndNamesWhatIsWrong(t *testing.T) {
	f := newFixture(t)
	cookie, csrf := f.login(t)
	post := func(fields map[string]string, fileName string, file []byte) (int, string, string) {
		fields["csrf_token"] = csrf
		body, ct := multipartForm(t, fields, fileName, file)
		w := f.do("POST", "/coupons", body, map[string]string{"Cookie": cookie.String(), "Content-Type": ct})
		return w.Code, w.Body.String(), w.Header().Get("Location")
	}
	tests := []struct {
		name     string
		fields   map[string]string
		fileName string
		file     []byte
		code     int
		want     []string // in the page: the error and what was typed
	}{
		{"no codes", map[string]string{"pool": "SPRING", "codes": "  \n\n"}, "", nil, 400,
			[]string{"No codes: paste them here", `value="SPRING"`}},
		{"bad pool name", map[string]string{"pool": "spring sale", "codes": "A1\nA2"}, "", nil, 400,
			[]string{"pool names are letters", `value="spring sale"`, "A1\nA2</textarea>"}},
		{"a code with a quote, named by its line", map[string]string{"pool": "SPRING", "codes": "A1\n\nA\"2"}, "", nil, 400,
			[]string{"Pasted codes, line 3", "without spaces, quotes or angle brackets"}},
		{"a bad code in the file, named by file and line", map[string]string{"pool": "SPRING", "codes": ""}, "codes.csv", []byte("B1\nB<2>\n"), 400,
			[]string{"codes.csv, line 2"}},
		{"a binary file", map[string]string{"pool": "SPRING", "codes": "A1"}, "codes.xlsx", []byte("PK\x03\x04\x00\x00\x00\x08\x00binary\x00\x00"), 400,
			[]string{"codes.xlsx is not a text file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := post(tc.fields, tc.fileName, tc.file)
			if code != tc.code {
				t.Fatalf("%d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, strings.ReplaceAll(w, `"2`, `&#34;2`)) && !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
	if pools, _ := f.camps.CouponPools(context.Background()); len(pools) != 0 {
		t.Fatalf("refused uploads created pools: %+v", pools)
	}

	// Pasted codes and a file together; a repeat and a code already there are skipped.
	code, _, loc := post(map[string]string{"pool": "SPRING", "codes": "A1\nA2\nA1\n"}, "more.txt", []byte("\ufeffB1\r\nA2\r\n"))
	if code != http.StatusSeeOther || loc != "/coupons" {
		t.Fatalf("upload: %d to %q", code, loc)
	}
	pools, err := f.camps.CouponPools(context.Background())
	if err != nil || len(pools) != 1 || pools[0].Pool != "SPRING" || pools[0].Available != 3 {
		t.Fatalf("pools after upload: %+v %v", pools, err)
	}
	page := f.do("GET", "/coupons", "", map[string]string{"Cookie": cookie.String() + "; " + flashCookie + "=x"})
	if !strings.Contains(page.Body.String(), "SPRING") || !strings.Contains(page.Body.String(), `{{coupon "SPRING"}}`) {
		t.Errorf("pool list: %s", page.Body)
	}
}

func TestCouponUploadRefusesTooLargeBodiesBeforeReadingThem(t *testing.T) {
	f := newFixture(t)
	cookie, csrf := f.login(t)
	body, ct := multipartForm(t, map[string]string{"csrf_token": csrf, "pool": "BIG"}, "big.txt", bytes.Repeat([]byte("CODE-123456\n"), 3<<20/12))
	w := f.do("POST", "/coupons", body, map[string]string{"Cookie": cookie.String(), "Content-Type": ct})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/coupons" {
		t.Fatalf("%d to %q", w.Code, w.Header().Get("Location"))
	}
	var flash string
	for _, c := range w.Result().Cookies() {
		if c.Name == flashCookie {
			flash, _ = url.QueryUnescape(c.Value)
			flash, _ = url.QueryUnescape(flash)
		}
	}
	if !strings.Contains(flash, "larger than 2 MB") {
		t.Errorf("flash %q", flash)
	}
	if pools, _ := f.camps.CouponPools(context.Background()); len(pools) != 0 {
		t.Fatalf("a refused upload created pools: %+v", pools)
	}
	// Without the session's token nothing is added, file or not.
	body, ct = multipartForm(t, map[string]string{"csrf_token": "forged", "pool": "X", "codes": "A1"}, "", nil)
	if w := f.do("POST", "/coupons", body, map[string]string{"Cookie": cookie.String(), "Content-Type": ct}); w.Code != http.StatusForbidden {
		t.Fatalf("forged token: %d", w.Code)
	}
}
