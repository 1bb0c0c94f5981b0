// Command heapgen builds a large Go heap of realistic shape for refgraph's
// benchmark (scripts/bench.sh), then blocks forever so that a core can be
// taken with gcore.
//
// The heap holds, in fixed shares of -objects:
//
//	25%  customers: map[uint64]*Customer and map[string]*Customer, each
//	     customer with strings, a tag slice, an address, orders with line
//	     items and a back pointer to the customer (cycles)
//	15%  catalogs: slices of pointers ([]*Item, 512 per slice), items with
//	     strings, attribute slices and cross links between catalogs
//	10%  strings: chunked []string and [][]byte of 32..4095 bytes
//	15%  long linked lists: 8 singly linked lists (one of them doubly
//	     linked), a label string on every 16th node
//	15%  values behind interfaces: []any of pointers, boxed structs, boxed
//	     strings, slices and integers, errors, and events whose fields are
//	     interfaces
//	20%  goroutines with live locals: each goroutine builds a binary tree
//	     (and every 4th a map) held only by its locals, recurses 8..39
//	     frames deep with a live pointer in each frame, then blocks on a
//	     channel that is never closed
//
// The shares are counted in allocations, so runtime.MemStats.HeapObjects
// ends close to -objects (tiny noscan allocations are counted one by one
// there but share 16-byte blocks in the heap). -objects 50000000 makes a
// heap of about 4 GB.
//
// Everything is derived from -seed with a fixed PRNG, so two runs with the
// same flags build the same object graph (addresses and map layouts differ:
// Go seeds map hashing at random).
//
// After building it runs runtime.GC(), prints
//
//	heap_objects N
//	heap_alloc B
//	ready
//
// on standard output and then sleeps in a syscall.Nanosleep loop without
// allocating.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ---- deterministic randomness -------------------------------------------

type rng struct{ s uint64 }

func newRng(seed uint64) *rng { return &rng{s: seed*0x9E3779B97F4A7C15 + 1} }

// next is xorshift64*.
func (r *rng) next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// text returns a new string of n bytes (one allocation).
func (r *rng) text(prefix string, n int) string {
	b := make([]byte, 0, n)
	b = append(b, prefix...)
	for len(b) < n {
		b = append(b, "abcdefghijklmnopqrstuvwxyz0123456789-_ "[r.intn(39)])
	}
	return string(b[:n])
}

// ---- customers: maps of structs -------------------------------------------

type Address struct {
	Street string
	City   string // shared constant
	Zip    int32
	Geo    *[2]float64
}

type LineItem struct {
	SKU   string // shared constant
	Qty   int32
	Price float64
}

type Order struct {
	ID       uint64
	Amount   float64
	Items    []LineItem
	Customer *Customer
	Note     string
	Placed   int64
}

type Customer struct {
	ID      uint64
	Name    string
	Email   string
	Tags    []string
	Addr    *Address
	Orders  []*Order
	Created int64
	Score   float64
}

var (
	customersByID    map[uint64]*Customer
	customersByEmail map[string]*Customer
)

var cities = []string{"Amsterdam", "Berlin", "Lisbon", "Nairobi", "Osaka", "Quito", "Reykjavik", "Toronto"}
var skus = []string{"SKU-0001", "SKU-0002", "SKU-0003", "SKU-0004", "SKU-0005", "SKU-0006"}
var tagNames = []string{"vip", "new", "churn-risk", "b2b", "newsletter", "beta"}

func buildCustomers(r *rng, budget int) {
	customersByID = make(map[uint64]*Customer)
	customersByEmail = make(map[string]*Customer)
	used := 0
	for id := uint64(1); used < budget; id++ {
		c := &Customer{ID: id, Created: int64(r.next() >> 20), Score: float64(r.intn(1000)) / 10}
		c.Name = r.text("cust-", 16+r.intn(24))
		c.Email = r.text(c.Name[:8]+"@", 24+r.intn(16))
		used += 3
		nt := 1 + r.intn(3)
		c.Tags = make([]string, nt)
		for i := range c.Tags {
			c.Tags[i] = tagNames[r.intn(len(tagNames))]
		}
		if r.intn(4) == 0 {
			c.Tags[0] = r.text("tag-", 20) // a dynamic tag now and then
			used++
		}
		used++
		c.Addr = &Address{Street: r.text("", 20+r.intn(20)), City: cities[r.intn(len(cities))], Zip: int32(r.intn(99999))}
		used += 2
		if r.intn(2) == 0 {
			c.Addr.Geo = &[2]float64{float64(r.intn(180)), float64(r.intn(360))}
			used++
		}
		no := r.intn(4)
		if no > 0 {
			c.Orders = make([]*Order, no)
			used++
			for i := range c.Orders {
				o := &Order{ID: id<<8 | uint64(i), Amount: float64(r.intn(100000)) / 100, Customer: c, Placed: int64(r.next() >> 24)}
				o.Items = make([]LineItem, 1+r.intn(5))
				for j := range o.Items {
					o.Items[j] = LineItem{SKU: skus[r.intn(len(skus))], Qty: int32(1 + r.intn(9)), Price: float64(r.intn(10000)) / 100}
				}
				used += 2
				if r.intn(4) == 0 {
					o.Note = r.text("note: ", 32+r.intn(96))
					used++
				}
				c.Orders[i] = o
			}
		}
		customersByID[id] = c
		customersByEmail[c.Email] = c
	}
}

// ---- catalogs: slices of pointers -----------------------------------------

type Item struct {
	ID     int64
	Price  float64
	Name   string
	Parent *Item
	Attrs  []int32
}

var catalogs [][]*Item

func buildCatalogs(r *rng, budget int) {
	used := 0
	var prev []*Item
	for used < budget {
		cat := make([]*Item, 512)
		used++
		for i := range cat {
			it := &Item{ID: int64(len(catalogs))<<16 | int64(i), Price: float64(r.intn(100000)) / 100}
			used++
			if r.intn(2) == 0 {
				it.Name = r.text("item ", 16+r.intn(48))
				used++
			}
			if r.intn(3) == 0 {
				it.Attrs = make([]int32, 2+r.intn(14))
				used++
			}
			if prev != nil && r.intn(4) == 0 {
				it.Parent = prev[r.intn(len(prev))]
			}
			cat[i] = it
		}
		catalogs = append(catalogs, cat)
		prev = cat
	}
}

// ---- strings --------------------------------------------------------------

var (
	texts [][]string
	blobs [][][]byte
)

func buildStrings(r *rng, budget int) {
	const chunk = 1 << 16
	used := 0
	var cur []string
	var curb [][]byte
	for used < budget {
		if len(cur) == cap(cur) {
			cur = make([]string, 0, chunk)
			texts = append(texts, cur)
			used++
		}
		if len(curb) == cap(curb) {
			curb = make([][]byte, 0, chunk/4)
			blobs = append(blobs, curb)
			used++
		}
		n := 32 << r.intn(5) // 32..512
		n += r.intn(n)       // 32..1023, skewed short
		if r.intn(64) == 0 {
			n = 1024 + r.intn(3072)
		}
		if r.intn(4) == 0 {
			b := make([]byte, n)
			b[0] = byte(r.next())
			curb = append(curb, b)
			blobs[len(blobs)-1] = curb
		} else {
			cur = append(cur, r.text("", n))
			texts[len(texts)-1] = cur
		}
		used++
	}
}

// ---- long linked lists ----------------------------------------------------

type Node struct {
	Next  *Node
	Prev  *Node // only in the doubly linked list
	Seq   int64
	Val   [2]int64
	Label string
}

var lists [8]*Node

func buildLists(r *rng, budget int) {
	per := budget / len(lists)
	for l := range lists {
		var head, tail *Node
		used := 0
		for seq := int64(0); used < per; seq++ {
			n := &Node{Seq: seq, Val: [2]int64{int64(r.next() >> 1), int64(l)}}
			used++
			if seq%16 == 0 {
				n.Label = r.text("node-", 24)
				used++
			}
			// Prepend (the way a free list or an LRU grows); the head is
			// the newest node.
			n.Next = head
			if l == 0 && head != nil {
				head.Prev = n
			}
			head = n
			if tail == nil {
				tail = n
			}
		}
		lists[l] = head
	}
}

// ---- values behind interfaces ---------------------------------------------

type Shape interface{ Area() float64 }

type Circle struct{ R float64 }

func (c *Circle) Area() float64 { return 3.14159 * c.R * c.R }

type Rect struct{ W, H float64 }

func (r Rect) Area() float64 { return r.W * r.H }

type Point struct{ X, Y float64 }

type CodeError struct {
	Code int
	Msg  string
}

func (e *CodeError) Error() string { return e.Msg }

type Event struct {
	Source  fmt.Stringer
	Payload any
	Shape   Shape
	Next    *Event
}

type Label struct{ S string }

func (l *Label) String() string { return l.S }

var (
	bag    [][]any
	events []*Event
)

func buildInterfaces(r *rng, budget int) {
	const chunk = 1 << 14
	used := 0
	var cur []any
	var last *Event
	for used < budget {
		if len(cur) == cap(cur) {
			cur = make([]any, 0, chunk)
			bag = append(bag, cur)
			used++
		}
		var v any
		switch r.intn(10) {
		case 0:
			v = &Circle{R: float64(r.intn(100))}
			used++
		case 1:
			v = Rect{W: float64(r.intn(100)), H: float64(r.intn(100))} // boxed
			used++
		case 2:
			v = Point{X: float64(r.next()), Y: float64(r.next())} // boxed
			used++
		case 3:
			v = r.text("boxed ", 16+r.intn(40)) // data and boxed header
			used += 2
		case 4:
			s := make([]int, 1+r.intn(12))
			v = s // data and boxed header
			used += 2
		case 5:
			v = int64(r.next()) // boxed integer (tiny allocation)
			used++
		case 6:
			if r.intn(2) == 0 {
				v = errors.New(r.text("error: ", 24+r.intn(24)))
			} else {
				v = &CodeError{Code: r.intn(600), Msg: r.text("failed: ", 24+r.intn(24))}
			}
			used += 2
		default:
			e := &Event{Source: &Label{S: r.text("src ", 16+r.intn(16))}, Next: last}
			used += 3
			if r.intn(2) == 0 {
				e.Shape = &Circle{R: 1}
			} else {
				e.Shape = Rect{W: 2, H: 3}
			}
			used++
			switch r.intn(3) {
			case 0:
				e.Payload = map[string]int{"a": r.intn(10), "b": r.intn(10)}
				used += 2
			case 1:
				e.Payload = &Point{X: 1, Y: 2}
				used++
			default:
				e.Payload = e.Source
			}
			if r.intn(64) == 0 {
				events = append(events, e) // some chains also held directly
				last = nil
			} else {
				last = e
			}
			v = e
		}
		cur = append(cur, v)
		bag[len(bag)-1] = cur
	}
}

// ---- goroutines with live locals ------------------------------------------

type TreeNode struct {
	Left, Right *TreeNode
	Key         int64
	Val         string
}

type Frame struct {
	Depth int
	Node  *TreeNode
	Buf   []byte
}

var block = make(chan struct{}) // never closed

func buildTree(r *rng, n int, used *int) *TreeNode {
	if n <= 0 {
		return nil
	}
	t := &TreeNode{Key: int64(r.next() >> 1)}
	*used++
	if r.intn(2) == 0 {
		t.Val = r.text("v", 16+r.intn(32))
		*used++
	}
	left := (n - 1) / 2
	t.Left = buildTree(r, left, used)
	t.Right = buildTree(r, n-1-left, used)
	return t
}

// deep recurses depth frames, each holding a Frame only in a local, and
// blocks at the bottom.
func deep(depth int, tree *TreeNode, started *sync.WaitGroup) int {
	f := &Frame{Depth: depth, Node: tree, Buf: make([]byte, 32)}
	if depth == 0 {
		started.Done()
		<-block
	} else {
		n := tree
		if n != nil && n.Left != nil {
			n = n.Left
		}
		deep(depth-1, n, started)
	}
	runtime.KeepAlive(f)
	return f.Depth
}

func worker(id, objects int, started *sync.WaitGroup) {
	r := newRng(uint64(id) + 1000003)
	used := 0
	depth := 8 + r.intn(32)
	used += 2 * (depth + 1) // the frames and their buffers
	var m map[int64]*TreeNode
	n := objects - used
	if id%4 == 0 {
		n /= 2
	}
	tree := buildTree(r, n*2/3, &used) // about 1.5 objects per node
	if id%4 == 0 {
		m = make(map[int64]*TreeNode)
		for used < objects {
			t := &TreeNode{Key: int64(id)<<32 | int64(used)}
			m[t.Key] = t
			used++
		}
	}
	deep(depth, tree, started)
	runtime.KeepAlive(tree)
	runtime.KeepAlive(m)
}

func startGoroutines(budget int) int {
	g := budget / 2000
	if g < 8 {
		g = 8
	}
	if g > 10000 {
		g = 10000
	}
	var started sync.WaitGroup
	started.Add(g)
	for i := 0; i < g; i++ {
		go worker(i, budget/g, &started)
	}
	started.Wait()
	return g
}

// ---- main -----------------------------------------------------------------

func main() {
	objects := flag.Int("objects", 5_000_000, "heap objects to build (50000000 makes about 4 GB)")
	seed := flag.Uint64("seed", 1, "seed of the deterministic generator")
	flag.Parse()
	if *objects < 1000 {
		fmt.Fprintln(os.Stderr, "heapgen: -objects must be at least 1000")
		os.Exit(2)
	}
	t0 := time.Now()
	n := *objects
	r := newRng(*seed)
	buildCustomers(r, n*25/100)
	buildCatalogs(r, n*15/100)
	buildStrings(r, n*10/100)
	buildLists(r, n*15/100)
	buildInterfaces(r, n*15/100)
	g := startGoroutines(n * 20 / 100)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "heapgen: built in %.1fs, %d goroutines parked\n", time.Since(t0).Seconds(), g)

	// Format without leaving garbage behind in the heap.
	buf := make([]byte, 0, 128)
	buf = append(buf, "heap_objects "...)
	buf = strconv.AppendUint(buf, ms.HeapObjects, 10)
	buf = append(buf, "\nheap_alloc "...)
	buf = strconv.AppendUint(buf, ms.HeapAlloc, 10)
	buf = append(buf, "\nready\n"...)
	os.Stdout.Write(buf)

	ts := syscall.Timespec{Sec: 3600}
	for {
		syscall.Nanosleep(&ts, nil)
	}
}
