package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"
)

// batchJSON is the answer to a batch write: a result per item under
// "data", and counts beside it. It is written item by item, in the bytes
// PureJSON would give for gin.H{"data": items, counts...}: encoding a
// batch of 10,000 contacts into one buffer held about 16 MB at once, and
// the peak of a server loading contacts was that buffer.
type batchJSON struct {
	items  []gin.H
	counts map[string]int
}

func (r batchJSON) WriteContentType(w http.ResponseWriter) {
	w.Header()["Content-Type"] = []string{"application/json; charset=utf-8"}
}

func (r batchJSON) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	keys := make([]string, 0, len(r.counts)+1)
	for k := range r.counts {
		keys = append(keys, k)
	}
	keys = append(keys, "data")
	sort.Strings(keys) // the order encoding/json gives a map's keys

	bw := bufio.NewWriterSize(w, 32<<10)
	var item bytes.Buffer
	enc := json.NewEncoder(&item)
	enc.SetEscapeHTML(false)
	bw.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(strconv.Quote(k))
		bw.WriteByte(':')
		if k != "data" {
			bw.WriteString(strconv.Itoa(r.counts[k]))
			continue
		}
		bw.WriteByte('[')
		for j, it := range r.items {
			if j > 0 {
				bw.WriteByte(',')
			}
			item.Reset()
			if err := enc.Encode(it); err != nil {
				return err
			}
			bw.Write(bytes.TrimSuffix(item.Bytes(), []byte{'\n'}))
		}
		bw.WriteByte(']')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
