package templates

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"text/template/parse"
	"time"
)

// Bounds on what one message may make a worker do. A template is checked
// when it is saved, so that what can never fit is refused there: loops go
// only over a contact's custom attributes or a small number, at most
// MaxIterations times in all however they nest, and nothing recurses. What
// depends on the contact (a long attribute printed in a loop) is caught
// while rendering: a message larger than its part's limit, or one whose
// rendering takes longer than RenderTimeout, fails with ErrTooLarge or
// ErrTooSlow and the worker goes on with the next one.
const (
	MaxRangeNumber = 100
	MaxIterations  = 10_000
	MaxHTMLBytes   = 2 << 20
	MaxTextBytes   = 1 << 20
	maxSubjectOut  = 16 << 10
	RenderTimeout  = 2 * time.Second
	// maxAttrs is how many custom attributes a contact can have (see
	// contacts), so a range over them repeats at most this often.
	maxAttrs = 200
)

// Render errors a contact's data can cause; the message fails with them.
var (
	ErrTooLarge = errors.New("the rendered message is larger than Herald sends")
	ErrTooSlow  = fmt.Errorf("rendering the message took longer than %s", RenderTimeout)
)

// boundedWriter collects a rendered part up to max bytes, and gives up
// once the deadline passes (checked every few writes: time.Now is not free).
type boundedWriter struct {
	buf      *bytes.Buffer
	max      int
	deadline time.Time
	writes   int
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, fmt.Errorf("%w (over %d KB)", ErrTooLarge, w.max>>10)
	}
	w.writes++
	if w.writes%64 == 0 && time.Now().After(w.deadline) {
		return 0, ErrTooSlow
	}
	return w.buf.Write(p)
}

// rangeBound is how many times a {{range}} over pipe can repeat its body,
// or an error saying why it cannot be allowed.
func rangeBound(pipe *parse.PipeNode, dotIsData bool) (int, error) {
	const hint = "a range goes over .Attr (the custom attributes) or a whole number up to %d"
	if pipe == nil || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
		return 0, fmt.Errorf(hint, MaxRangeNumber)
	}
	switch a := pipe.Cmds[0].Args[0].(type) {
	case *parse.NumberNode:
		if !a.IsInt || a.Int64 < 0 || a.Int64 > MaxRangeNumber {
			return 0, fmt.Errorf("range over %s: "+hint, a.Text, MaxRangeNumber)
		}
		return int(a.Int64), nil
	case *parse.FieldNode:
		if dotIsData && isAttr(a.Ident) {
			return maxAttrs, nil
		}
	case *parse.VariableNode:
		if len(a.Ident) == 2 && a.Ident[0] == "$" && isAttr(a.Ident[1:]) {
			return maxAttrs, nil
		}
	}
	return 0, fmt.Errorf(hint, MaxRangeNumber)
}

func isAttr(idents []string) bool {
	if len(idents) != 1 {
		return false
	}
	f, ok := reflect.TypeOf(Data{}).FieldByName(idents[0])
	return ok && idents[0] == "Attr" && f.Type.Kind() == reflect.Map
}

// checkCommand refuses the built-in functions a message has no use for
// and that could run away: call (runs a function value), and printf with
// a computed format or a huge width, which would allocate that much.
func checkCommand(cmd *parse.CommandNode) error {
	if len(cmd.Args) == 0 {
		return nil
	}
	id, ok := cmd.Args[0].(*parse.IdentifierNode)
	if !ok {
		return nil
	}
	switch id.Ident {
	case "call":
		return errors.New("call is not available in messages")
	case "printf":
		if len(cmd.Args) < 2 {
			return nil
		}
		f, ok := cmd.Args[1].(*parse.StringNode)
		if !ok {
			return errors.New("printf needs its format written out, as in printf \"%.2f\" .Attr.score")
		}
		if w := widestVerb(f.Text); w > MaxRangeNumber {
			return fmt.Errorf("printf: a width or precision of %d is more than %d", w, MaxRangeNumber)
		}
	}
	return nil
}

// widestVerb returns the largest width or precision written in a format.
func widestVerb(format string) int {
	widest := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format); i++ {
			c := format[i]
			if c >= '0' && c <= '9' {
				j := i
				for j < len(format) && format[j] >= '0' && format[j] <= '9' {
					j++
				}
				n, err := strconv.Atoi(format[i:j])
				if err != nil || n > widest {
					widest = n
					if err != nil {
						widest = int(^uint(0) >> 1)
					}
				}
				i = j - 1
				continue
			}
			if c == '*' {
				return int(^uint(0) >> 1) // a width taken from the data: unbounded
			}
			if c == '.' || c == '-' || c == '+' || c == '#' || c == ' ' || c == '[' || c == ']' {
				continue
			}
			break
		}
	}
	return widest
}
