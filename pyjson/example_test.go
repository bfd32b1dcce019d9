package pyjson_test

import (
	"fmt"
	"log"

	"github.com/settlehq/settle/pyjson"
)

// Parse keeps what json.loads keeps (key order, every digit of an integer,
// 1.0 as a float, NaN); Encode writes what json.dumps writes.
func Example() {
	v, err := pyjson.Parse([]byte(`{"name": "café", "n": 12345678901234567890, "x": 1.0, "tags": ["a", NaN]}`))
	if err != nil {
		log.Fatal(err)
	}
	obj := v.(*pyjson.Object)
	name, _ := obj.GetString("name")
	n, _ := obj.Get("n")
	fmt.Println(name, n, obj.Keys())

	obj.Set("n", pyjson.Int("1"))
	out, err := pyjson.Encode(obj, pyjson.Options{Indent: -1, EnsureASCII: true}) // json.dumps(v)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))

	// json.dumps(v, sort_keys=True, separators=(",", ":"))
	out, err = pyjson.Encode(obj, pyjson.Options{Indent: -1, EnsureASCII: true, SortKeys: true, ItemSep: ",", KeySep: ":"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
	// str(v) and 1 == 1.0 as Python prints them.
	fmt.Println(pyjson.Str(obj), pyjson.Str(pyjson.Equal(pyjson.Int("1"), 1.0)))
	// Output:
	// café 12345678901234567890 [name n x tags]
	// {"name": "caf\u00e9", "n": 1, "x": 1.0, "tags": ["a", NaN]}
	// {"n":1,"name":"caf\u00e9","tags":["a",NaN],"x":1.0}
	// {'name': 'café', 'n': 1, 'x': 1.0, 'tags': ['a', nan]} True
}
