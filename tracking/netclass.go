package tracking

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NetClass is what the web tier tells the classifier about a client's
// address. The address itself is never stored or queued: only this class
// travels with the hit.
type NetClass string

// Network classes.
const (
	NetOther NetClass = ""
	// NetAppleProxy is Apple's network, from which Mail Privacy
	// Protection fetches every image of a message right after delivery.
	NetAppleProxy NetClass = "apple"
	// NetScanner is a configured network of link scanners (a security
	// gateway's or the company's own).
	NetScanner NetClass = "scanner"
)

// DefaultAppleNetworks are the networks whose opens count as Apple Mail
// Privacy Protection's. 17.0.0.0/8 is Apple's own block (AS714), from which
// its image proxies are seen to fetch. The iCloud Private Relay egress list
// Apple publishes (mask-api.icloud.com/egress-ip-ranges.csv) is largely
// other companies' CDN space and changes often, so it is not built in: add
// it through the setting if wanted. Only opens are judged by this class:
// people click from Apple's network too.
const DefaultAppleNetworks = "17.0.0.0/8"

// Networks classifies client addresses by configured ranges.
type Networks struct {
	apple, scanner ranges
}

// NewNetworks parses comma-separated CIDR lists of Apple proxy networks
// and of scanner networks.
func NewNetworks(apple, scanner string) (*Networks, error) {
	a, err := parseRanges(apple)
	if err != nil {
		return nil, fmt.Errorf("tracking: apple proxy networks: %w", err)
	}
	s, err := parseRanges(scanner)
	if err != nil {
		return nil, fmt.Errorf("tracking: scanner networks: %w", err)
	}
	return &Networks{apple: a, scanner: s}, nil
}

// Class returns the class of addr; a scanner network wins over Apple's.
func (n *Networks) Class(addr netip.Addr) NetClass {
	if n == nil || !addr.IsValid() {
		return NetOther
	}
	addr = addr.Unmap()
	switch {
	case n.scanner.contains(addr):
		return NetScanner
	case n.apple.contains(addr):
		return NetAppleProxy
	}
	return NetOther
}

// ranges is a sorted list of disjoint address ranges: a configured list
// can be thousands of prefixes long (Apple's egress list is), so lookups
// are a binary search rather than a scan.
type ranges []addrRange

type addrRange struct{ first, last netip.Addr }

func parseRanges(list string) (ranges, error) {
	var out ranges
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range such as 17.0.0.0/8: %w", f, err)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-bitsLost(p)).Masked()
		out = append(out, addrRange{p.Addr(), lastAddr(p)})
	}
	slices.SortFunc(out, func(a, b addrRange) int { return a.first.Compare(b.first) })
	// Merge overlaps, so that the range before an address is the only one
	// that can hold it.
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.first.BitLen() == merged[n-1].last.BitLen() && r.first.Compare(merged[n-1].last) <= 0 {
			if r.last.Compare(merged[n-1].last) > 0 {
				merged[n-1].last = r.last
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// bitsLost is how many prefix bits an IPv4-mapped IPv6 prefix loses when
// unmapped.
func bitsLost(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return 96
	}
	return 0
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (rs ranges) contains(a netip.Addr) bool {
	if len(rs) == 0 {
		return false
	}
	// The last range starting at or before a.
	i, found := slices.BinarySearchFunc(rs, a, func(r addrRange, a netip.Addr) int { return r.first.Compare(a) })
	if found {
		return true
	}
	if i == 0 {
		return false
	}
	r := rs[i-1]
	return r.last.BitLen() == a.BitLen() && a.Compare(r.last) <= 0
}
