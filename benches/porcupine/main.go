// Times Porcupine's own checker on the shared linearizability histories, so that Faultline's
// speed-up is measured side by side on one machine instead of against figures recorded elsewhere.
//
// `faultline bench --porcupine DIR` builds this program against the Porcupine checkout in DIR
// (a `replace` in a generated go.mod; nothing is downloaded) and runs it with the data folder as
// its argument. Output: one JSON object per history on stdout, {"path", "ms", "linearizable"},
// where ms is the best of --runs checks, parsing excluded, as Faultline's figures are taken.
//
// The parsers and models below are Faultline's reading of the two formats (see
// checkers/src/formats/{etcd,porcupine_kv}.rs): etcd logs are one CAS register whose nil means
// "absent", kv logs are get/put/append on string registers, partitioned by key.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

type etcdInput struct {
	op        string // read, write, cas
	arg, arg2 int
}

type etcdOutput struct {
	ok      bool // cas succeeded
	value   int  // read result; -1 is nil
	unknown bool // info: may or may not have happened
}

const nilVal = -1

func etcdModel() porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return nilVal },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			st := state.(int)
			in := input.(etcdInput)
			out := output.(etcdOutput)
			switch in.op {
			case "read":
				return out.unknown || out.value == st, st
			case "write":
				return true, in.arg
			default: // cas
				if out.unknown {
					if in.arg == st {
						return true, in.arg2
					}
					return true, st
				}
				if out.ok {
					return in.arg == st, in.arg2
				}
				return in.arg != st, st
			}
		},
		Equal: func(a, b interface{}) bool { return a.(int) == b.(int) },
	}
}

type kvInput struct {
	op, key, value string // get, put, append
}

func kvModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range history {
				k := op.Input.(kvInput).key
				if _, seen := byKey[k]; !seen {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			var out [][]porcupine.Operation
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() interface{} { return "" },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			st := state.(string)
			in := input.(kvInput)
			switch in.op {
			case "get":
				return output.(string) == st, st
			case "put":
				return true, in.value
			default:
				return true, st + in.value
			}
		},
		Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	}
}

// pending pairs invocations with completions per process.
type pending struct {
	ops  []porcupine.Operation
	open map[int]int // process -> index in ops
	drop map[int]bool
}

func newPending() *pending {
	return &pending{open: map[int]int{}, drop: map[int]bool{}}
}

func (p *pending) invoke(process int, input interface{}, at int64) {
	p.open[process] = len(p.ops)
	p.ops = append(p.ops, porcupine.Operation{ClientId: process, Input: input, Call: at, Return: math.MaxInt64})
}

func (p *pending) complete(process int, output interface{}, at int64) (*porcupine.Operation, error) {
	i, ok := p.open[process]
	if !ok {
		return nil, fmt.Errorf("completion without an invocation for process %d", process)
	}
	delete(p.open, process)
	p.ops[i].Output = output
	p.ops[i].Return = at
	return &p.ops[i], nil
}

// finish leaves open operations open (Return stays MaxInt64) and removes dropped ones.
func (p *pending) finish(fill interface{}) []porcupine.Operation {
	var out []porcupine.Operation
	for i, op := range p.ops {
		if p.drop[i] {
			continue
		}
		if op.Output == nil {
			op.Output = fill
		}
		out = append(out, op)
	}
	return out
}

func etcdVal(tok string) int {
	if tok == "nil" {
		return nilVal
	}
	var v int
	fmt.Sscan(tok, &v)
	return v
}

func parseEtcd(path string) ([]porcupine.Operation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := newPending()
	sc := bufio.NewScanner(f)
	line := int64(0)
	for sc.Scan() {
		line++
		toks := strings.Fields(sc.Text())
		if len(toks) < 7 || toks[1] != "jepsen.util" {
			continue
		}
		var process int
		if _, err := fmt.Sscan(toks[3], &process); err != nil {
			return nil, fmt.Errorf("%s:%d: process is not a number", path, line)
		}
		typ, fn, value := toks[4], strings.TrimPrefix(toks[5], ":"), strings.Join(toks[6:], " ")
		switch typ {
		case ":invoke":
			in := etcdInput{op: fn}
			switch fn {
			case "write":
				in.arg = etcdVal(value)
			case "cas":
				parts := strings.Fields(strings.Trim(value, "[]"))
				if len(parts) != 2 {
					return nil, fmt.Errorf("%s:%d: cas value must be [FROM TO]", path, line)
				}
				in.arg, in.arg2 = etcdVal(parts[0]), etcdVal(parts[1])
			}
			p.invoke(process, in, line)
		case ":ok", ":fail":
			i := p.open[process]
			op, err := p.complete(process, etcdOutput{ok: typ == ":ok", value: nilVal}, line)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
			if fn == "read" && typ == ":ok" {
				op.Output = etcdOutput{ok: true, value: etcdVal(value)}
			}
			if fn == "read" && typ == ":fail" {
				p.drop[i] = true // a failed read told nothing
			}
			if fn == "write" && typ == ":fail" {
				p.drop[i] = true // certainly did not happen
			}
		case ":info":
			// Unknown: leave it open (it may take effect at any later time).
			delete(p.open, process)
		}
	}
	return p.finish(etcdOutput{unknown: true}), sc.Err()
}

var kvLine = regexp.MustCompile(`:process (\d+), :type :(\w+), :f :(\w+), :key "([^"]*)", :value (nil|"[^"]*")`)

func parseKv(path string) ([]porcupine.Operation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := newPending()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := int64(0)
	for sc.Scan() {
		line++
		m := kvLine.FindStringSubmatch(sc.Text())
		if m == nil {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			return nil, fmt.Errorf("%s:%d: not a kv op", path, line)
		}
		var process int
		fmt.Sscan(m[1], &process)
		value := strings.Trim(m[5], `"`)
		if m[5] == "nil" {
			value = ""
		}
		switch m[2] {
		case "invoke":
			p.invoke(process, kvInput{op: m[3], key: m[4], value: value}, line)
		case "ok":
			if _, err := p.complete(process, value, line); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, line, err)
			}
		default:
			return nil, fmt.Errorf("%s:%d: unexpected type %s", path, line, m[2])
		}
	}
	return p.finish(""), sc.Err()
}

func main() {
	runs := flag.Int("runs", 3, "checks per history (the best counts)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: porcupine-bench [--runs N] DATA_DIR (holding VERDICTS.tsv)")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	tsv, err := os.ReadFile(filepath.Join(dir, "VERDICTS.tsv"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for i, row := range strings.Split(string(tsv), "\n") {
		fields := strings.Split(row, "\t")
		if i == 0 || strings.HasPrefix(row, "#") || len(fields) < 2 || fields[0] == "path" {
			continue
		}
		path := fields[0]
		var ops []porcupine.Operation
		var model porcupine.Model
		if strings.HasPrefix(path, "etcd/") {
			ops, err = parseEtcd(filepath.Join(dir, path))
			model = etcdModel()
		} else {
			ops, err = parseKv(filepath.Join(dir, path))
			model = kvModel()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		best, verdict := math.Inf(1), false
		for r := 0; r < *runs; r++ {
			t0 := time.Now()
			verdict = porcupine.CheckOperations(model, ops)
			if ms := float64(time.Since(t0).Nanoseconds()) / 1e6; ms < best {
				best = ms
			}
		}
		enc.Encode(map[string]interface{}{"path": path, "ms": best, "linearizable": verdict})
	}
}
