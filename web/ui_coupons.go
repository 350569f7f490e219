package web

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"herald/internal/errs"
)

// maxCouponUpload bounds a coupon upload (the pasted codes and the file
// together): about 100,000 codes of ten characters.
const maxCouponUpload = 2 << 20

// couponPageRoutes adds the coupon pools page. Its upload is the one page
// form that takes a file, so it has its own body limit, applied before
// the session check reads the form, and refuses a larger body with a
// message rather than a cut-off form.
func (s *Server) couponPageRoutes(r *gin.Engine, ui *gin.RouterGroup) {
	ui.GET("/coupons", s.couponsPage)
	r.POST("/coupons", s.couponUploadSize, bodyLimit(maxCouponUpload+64<<10), s.requireSession(), s.couponsPost)
}

// couponUploadSize sends an upload larger than maxCouponUpload back to
// the page with the reason, before anything reads it.
func (s *Server) couponUploadSize(c *gin.Context) {
	if c.Request.ContentLength > maxCouponUpload+64<<10 {
		if _, ok := s.session(c); ok {
			s.flash(c, fmt.Sprintf("Not uploaded: the codes are larger than %d MB. Split the file and upload the parts one after another.", maxCouponUpload>>20))
		}
		// The connection may still carry the body; the browser gets
		// the answer and follows it.
		c.Header("Connection", "close")
		seeOther(c, "/coupons")
		c.Abort()
	}
}

type couponForm struct {
	Pool, Codes string
	Errors      map[string]string
}

func (s *Server) couponsPage(c *gin.Context) {
	s.renderCoupons(c, http.StatusOK, couponForm{Pool: c.Query("pool")})
}

func (s *Server) renderCoupons(c *gin.Context, status int, f couponForm) {
	pools, err := s.d.Campaigns.CouponPools(c.Request.Context())
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, status, "coupons", gin.H{"Title": "Coupons", "Nav": "coupons", "Pools": pools, "Form": f,
		"MaxMB": maxCouponUpload >> 20, "Scripts": []string{"coupons.js"}})
}

// codeLine is one code and where it came from, to name it in an error.
type codeLine struct {
	Code, Where string
}

// readCodes splits text into one code per line, skipping blank lines and
// a byte-order mark; where names the source ("pasted", the file's name).
func readCodes(r io.Reader, where string) ([]codeLine, error) {
	var out []codeLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxCouponUpload)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line != "" {
			out = append(out, codeLine{Code: line, Where: where + " line " + strconv.Itoa(n)})
		}
	}
	return out, sc.Err()
}

// couponsPost adds codes to a pool (new or existing) from the pasted text
// and an optional file, one code per line.
func (s *Server) couponsPost(c *gin.Context) {
	f := couponForm{Pool: strings.TrimSpace(c.PostForm("pool")), Codes: c.PostForm("codes"), Errors: map[string]string{}}
	lines, _ := readCodes(strings.NewReader(f.Codes), "Pasted codes,")
	if fh, err := c.FormFile("file"); err == nil {
		file, err := fh.Open()
		if err != nil {
			s.pageError(c, err)
			return
		}
		defer file.Close()
		head := make([]byte, 512)
		n, _ := io.ReadFull(file, head)
		if ct := http.DetectContentType(head[:n]); !strings.HasPrefix(ct, "text/") {
			f.Errors["file"] = fmt.Sprintf("%s is not a text file: save the codes as plain text or CSV, one code per line.", fh.Filename)
			s.renderCoupons(c, http.StatusBadRequest, f)
			return
		}
		more, err := readCodes(io.MultiReader(bytes.NewReader(head[:n]), file), fh.Filename+",")
		if err != nil {
			f.Errors["file"] = fmt.Sprintf("%s could not be read: a line is too long or the file is cut off.", fh.Filename)
			s.renderCoupons(c, http.StatusBadRequest, f)
			return
		}
		lines = append(lines, more...)
	} else if !errors.Is(err, http.ErrMissingFile) {
		s.pageError(c, err)
		return
	}
	if len(lines) == 0 {
		f.Errors["codes"] = "No codes: paste them here, one per line, or choose a file."
		s.renderCoupons(c, http.StatusBadRequest, f)
		return
	}
	codes := make([]string, len(lines))
	for i, l := range lines {
		codes[i] = l.Code
	}
	added, dups, err := s.d.Campaigns.AddCoupons(c.Request.Context(), f.Pool, codes)
	if ie, ok := errs.AsInvalid(err); ok {
		field, msg := ie.Path, ie.Message
		var i int
		if _, scanErr := fmt.Sscanf(ie.Path, "codes[%d]", &i); scanErr == nil && i >= 0 && i < len(lines) {
			field, msg = "codes", fmt.Sprintf("%s (%q): %s", lines[i].Where, clip(lines[i].Code, 40), msg)
		}
		if field != "pool" {
			field = "codes"
		}
		f.Errors[field] = msg
		s.renderCoupons(c, http.StatusBadRequest, f)
		return
	}
	if err != nil {
		s.pageError(c, err)
		return
	}
	msg := fmt.Sprintf("Added %d %s to %s.", added, pluralWord(added, "code", "codes"), f.Pool)
	if dups > 0 {
		msg += fmt.Sprintf(" %d %s already in the pool or repeated, so skipped.", dups, pluralWord(dups, "was", "were"))
	}
	if added == 0 {
		msg = fmt.Sprintf("No new codes: all %d were already in %s.", dups, f.Pool)
	}
	s.flash(c, msg)
	seeOther(c, "/coupons")
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
