package pyjson_test

// The document corpus: CPython's answers to the hand-written documents and
// to random ones (testdata/corpus/documents.jsonl.gz), replayed with no
// Python, so that every clone checks pyjson against CPython's json module:
// acceptance, error messages, every encoding option, str() and truthiness.
//
// Regenerate it (needs python3 3.11) with
//
//	SETTLE_REGEN_CORPUS=1 go test -count=1 -run TestCorpusGenerate ./pyjson/
//
// Each line is {"doc": text, "answer": [parts]}; a byte string that is not
// UTF-8 is stored base64 under "doc_b64" or "answer_b64".

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/settlehq/settle/internal/testenv"
)

var documentsCorpusPath = filepath.Join("testdata", "corpus", "documents.jsonl.gz")

type corpusDoc struct {
	Doc       *string  `json:"doc,omitempty"`
	DocB64    []byte   `json:"doc_b64,omitempty"`
	Answer    []string `json:"answer,omitempty"`
	AnswerB64 [][]byte `json:"answer_b64,omitempty"`
}

// corpusDocs are the documents the corpus records: the hand-written ones
// and 1500 random ones (seed 1).
func corpusDocs() [][]byte {
	var docs [][]byte
	for _, d := range handWrittenDocs() {
		docs = append(docs, []byte(d))
	}
	g := newDocGen(1)
	for i := range 1000 {
		d := g.doc(1 + i%60)
		docs = append(docs, d)
		if i%2 == 0 {
			docs = append(docs, g.mutate(d))
		}
	}
	return docs
}

// TestCorpusGenerate records the document corpus from python3; it runs
// only with SETTLE_REGEN_CORPUS=1.
func TestCorpusGenerate(t *testing.T) {
	testenv.RegenCorpus(t)
	docs := corpusDocs()
	var o oracle
	for _, d := range docs {
		o.add('D', d)
	}
	ans := o.run(t)
	var lines [][]byte
	for i, d := range docs {
		var c corpusDoc
		if utf8.Valid(d) {
			s := string(d)
			c.Doc = &s
		} else {
			c.DocB64 = d
		}
		text := true
		for _, p := range ans[i] {
			text = text && utf8.Valid(p)
		}
		for _, p := range ans[i] {
			if text {
				c.Answer = append(c.Answer, string(p))
			} else {
				c.AnswerB64 = append(c.AnswerB64, p)
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	testenv.WriteCorpus(t, documentsCorpusPath, lines)
}

// TestCorpusDocuments replays the recorded documents through checkDoc.
func TestCorpusDocuments(t *testing.T) {
	accepted, refused := 0, 0
	lines := testenv.ReadCorpus(t, documentsCorpusPath)
	for n, raw := range lines {
		var c corpusDoc
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("corpus line %d: %v", n+1, err)
		}
		doc := c.DocB64
		if c.Doc != nil {
			doc = []byte(*c.Doc)
		}
		ans := c.AnswerB64
		for _, p := range c.Answer {
			ans = append(ans, []byte(p))
		}
		if len(ans) == 0 {
			t.Fatalf("corpus line %d: no answer", n+1)
		}
		if string(ans[0]) == "ok" {
			accepted++
		} else {
			refused++
		}
		checkDoc(t, doc, ans)
	}
	t.Logf("%d documents: %d accepted, %d refused by CPython", len(lines), accepted, refused)
	if accepted < len(lines)/3 || refused < len(lines)/8 {
		t.Errorf("corpus imbalance: %d accepted, %d refused", accepted, refused)
	}
}
