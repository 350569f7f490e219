package templates

import (
	"errors"
	"fmt"
	"regexp"
	"text/template/parse"
)

// CouponPoolRe is the shape of a coupon pool's name.
var CouponPoolRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Coupons hands out codes from a pool for one message: the same code for
// the same contact and campaign, so a retry or a preview never takes a
// second one. An empty pool is an error, never a blank code.
type Coupons func(pool string) (string, error)

// WithCoupons sets where {{coupon "POOL"}} takes its codes from.
func (d *Data) WithCoupons(c Coupons) *Data {
	d.coupons = c
	return d
}

// Coupon is what {{coupon "POOL"}} calls (the compiler rewrites the
// function call into this method so that it knows the contact). Without a
// source (previews of a made-up contact, save-time checks) it shows a
// placeholder.
func (d *Data) Coupon(pool string) (string, error) {
	if !CouponPoolRe.MatchString(pool) {
		return "", fmt.Errorf("coupon: %q is not a pool name", pool)
	}
	if d.coupons == nil {
		return "COUPON-" + pool, nil
	}
	code, err := d.coupons(pool)
	if err != nil {
		return "", &CouponError{Pool: pool, Err: err}
	}
	if code == "" {
		return "", &CouponError{Pool: pool, Err: errors.New("the pool gave a blank code")}
	}
	return code, nil
}

// CouponError is a failure of the coupon source behind {{coupon "POOL"}}
// (an empty pool, a database that did not answer), as opposed to a fault
// of the template or of the contact's data. Render returns it inside an
// *Error; errors.As finds it, and errors.Is sees through it to the
// source's own error (campaigns.ErrPoolEmpty, say).
type CouponError struct {
	Pool string
	Err  error
}

func (e *CouponError) Error() string { return fmt.Sprintf("coupon %q: %v", e.Pool, e.Err) }

// Unwrap returns the source's error.
func (e *CouponError) Unwrap() error { return e.Err }

// couponPlaceholder stands in the function map so that templates using
// coupon parse; bindCoupons replaces every call before anything runs.
func couponPlaceholder(string) (string, error) {
	return "", errors.New("coupon: not bound to a message")
}

// bindCoupons rewrites every call of the coupon function into a call of
// the $.Coupon method of the message's data.
func bindCoupons(n parse.Node) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			bindCoupons(c)
		}
	case *parse.ActionNode:
		bindCoupons(x.Pipe)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, c := range x.Cmds {
			bindCoupons(c)
		}
	case *parse.CommandNode:
		for i, a := range x.Args {
			if id, ok := a.(*parse.IdentifierNode); ok && id.Ident == "coupon" && i == 0 {
				x.Args[0] = &parse.VariableNode{NodeType: parse.NodeVariable, Pos: id.Pos, Ident: []string{"$", "Coupon"}}
				continue
			}
			bindCoupons(a)
		}
	case *parse.IfNode:
		bindCoupons(x.Pipe)
		bindCoupons(x.List)
		bindCoupons(x.ElseList)
	case *parse.RangeNode:
		bindCoupons(x.Pipe)
		bindCoupons(x.List)
		bindCoupons(x.ElseList)
	case *parse.WithNode:
		bindCoupons(x.Pipe)
		bindCoupons(x.List)
		bindCoupons(x.ElseList)
	case *parse.TemplateNode:
		bindCoupons(x.Pipe)
	}
}
