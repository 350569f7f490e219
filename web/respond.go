package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"herald/internal/errs"
)

// apiError is the body of every 4xx/5xx JSON answer.
type apiError struct {
	Message string `json:"message"`
	Path    string `json:"path,omitempty"`
}

func errorBody(msg, path string) gin.H {
	return gin.H{"error": apiError{Message: msg, Path: path}}
}

// fail answers with the status a domain error means. Internal errors are
// logged here, once, and the client gets no internal detail.
func (s *Server) fail(c *gin.Context, err error) {
	status, body := s.errorResponse(c, err)
	c.Abort()
	c.PureJSON(status, body)
}

func (s *Server) errorResponse(c *gin.Context, err error) (int, gin.H) {
	if ie, ok := errs.AsInvalid(err); ok {
		return http.StatusBadRequest, errorBody(ie.Message, ie.Path)
	}
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return http.StatusNotFound, errorBody(errs.Message(err), "")
	case errors.Is(err, errs.ErrConflict):
		return http.StatusConflict, errorBody(errs.Message(err), "")
	}
	s.log.Error("web: request failed", "route", c.FullPath(), "method", c.Request.Method, "err", err)
	return http.StatusInternalServerError, errorBody("internal error", "")
}

// decode reads a JSON body into v, refusing unknown fields, so a typo such
// as "firstname" is an error rather than silently ignored.
func decode(c *gin.Context, v any) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeBytes(c, b, v)
}

func readBody(c *gin.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errs.Invalid("", "the body is larger than %d MB", tooBig.Limit>>20)
	}
	if err != nil {
		return nil, errs.Invalid("", "could not read the body: %v", err)
	}
	return b, nil
}

func decodeBytes(_ *gin.Context, b []byte, v any) error {
	return errs.DecodeStrict(b, v)
}

// isArray tells whether a JSON body is an array (batch) or an object.
func isArray(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

func pathID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.NotFound("record", c.Param("id"))
	}
	return id, nil
}

// page reads ?cursor= and ?limit=.
func page(c *gin.Context) (int64, int, error) {
	var cursor int64
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, errs.Invalid("cursor", "is not a cursor from a previous page")
		}
		cursor = n
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, errs.Invalid("limit", "must be a number from 1 to 1000")
		}
		limit = n
	}
	return cursor, limit, nil
}

func listBody(data any, next int64) gin.H {
	n := ""
	if next > 0 {
		n = fmt.Sprint(next)
	}
	return gin.H{"data": data, "next": n}
}
