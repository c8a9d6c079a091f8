// Command promkeys prints the YAML keys that Prometheus accepts in each section of its configuration, read from
// the Go source of the modules it is built from (go/ast only: nothing of Prometheus is compiled). Its output is
// src/promconfig/keys.txt; hack/promkeys.sh runs it with the directories of the pinned modules.
//
// Usage: promkeys IMPORT_PATH=DIR... (every package whose types a section uses: config, model/relabel,
// discovery/*, the storage/remote auth packages, common/config, sigv4).
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// A package read from source: its structs and its other named types, by type name.
type pkg struct {
	path    string
	name    string
	structs map[string]*ast.StructType
	named   map[string]ast.Expr
	imports map[string]map[string]string // type name -> the file's imports (alias -> path)
	sdNames map[string]string            // type name -> Name() of a service discovery config
}

var pkgs = map[string]*pkg{}

// Types whose YAML form is a scalar or a map with its own rules, by import path and name.
var scalars = map[string]string{
	"github.com/prometheus/common/model.Duration":                 "duration",
	"github.com/prometheus/common/model.LabelName":                "labelname",
	"github.com/prometheus/common/model.LabelNames":               "[labelname]",
	"github.com/prometheus/common/model.LabelSet":                 "labelset",
	"github.com/prometheus/common/model.LabelValue":               "string",
	"github.com/prometheus/common/model.ValidationScheme":         "string",
	"github.com/prometheus/common/model.EscapingScheme":           "string",
	"github.com/prometheus/prometheus/model/relabel.Regexp":       "regex",
	"github.com/prometheus/prometheus/model/relabel.Action":       "string",
	"github.com/prometheus/prometheus/model/labels.Labels":        "labelset",
	"github.com/prometheus/common/config.Secret":                  "string",
	"github.com/prometheus/common/config.TLSVersion":             "string",
	"github.com/prometheus/common/config.URL":                     "url",
	"github.com/alecthomas/units.Base2Bytes":                      "size",
	"time.Duration":                                               "goduration",
	"net/url.URL":                                                 "url",
	"github.com/prometheus/common/config.ProxyHeader":             "map",
	"github.com/prometheus/prometheus/discovery.Configs":          "sd",
	"github.com/prometheus/prometheus/discovery.StaticConfig":     "[targetgroup.Group]",
	"github.com/prometheus/prometheus/config.ScrapeProtocol":      "string",
	"github.com/prometheus/prometheus/config.RemoteWriteProtoMsg": "string",
}

func main() {
	for _, arg := range os.Args[1:] {
		path, dir, ok := strings.Cut(arg, "=")
		if !ok {
			fail("argument %q is not IMPORT_PATH=DIR", arg)
		}
		read(path, dir)
	}
	sections := map[string][]string{}
	var visit func(key string)
	visit = func(key string) {
		if _, done := sections[key]; done {
			return
		}
		sections[key] = nil
		p, name := lookup(key)
		var lines []string
		fields(p, name, p.structs[name], &lines, visit)
		sections[key] = lines
	}
	// A target group's UnmarshalYAML reads an inner struct of its own, not the fields of Group.
	sections["github.com/prometheus/prometheus/discovery/targetgroup.Group"] = []string{"targets [string]", "labels labelset"}
	visit("github.com/prometheus/prometheus/config.Config")
	visit("github.com/prometheus/prometheus/model/relabel.Config")
	var sd []string
	for _, p := range pkgs {
		for typ, name := range p.sdNames {
			key := p.path + "." + typ
			visit(key)
			sd = append(sd, fmt.Sprintf("%s_sd_configs [%s]", name, short(key)))
		}
	}
	sort.Strings(sd)

	fmt.Println("# The YAML keys of each section of a Prometheus configuration, and the kind of each value. Generated")
	fmt.Println("# by hack/promkeys.sh from the Go source of the pinned Prometheus module: do not edit.")
	fmt.Println("# Kinds: string, bool, int, uint, float, duration (Prometheus's), goduration (Go's), labelname, labelset,")
	fmt.Println("# regex (RE2), size (units.Base2Bytes), url, map (string to string), any, [kind] a list, a section name.")
	fmt.Println("# [sd] lists the <name>_sd_configs keys that a section with service discovery accepts.")
	fmt.Println()
	fmt.Println("[sd]")
	fmt.Println("static_configs [targetgroup.Group]")
	for _, line := range sd {
		fmt.Println(line)
	}
	var keys []string
	for key := range sections {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return short(keys[i]) < short(keys[j]) })
	for _, key := range keys {
		fmt.Printf("\n[%s]\n", short(key))
		for _, line := range sections[key] {
			fmt.Println(line)
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "promkeys: "+format+"\n", args...)
	os.Exit(1)
}

// short is a section's name: the package name and the type, as Go code spells it.
func short(key string) string {
	dot := strings.LastIndex(key, ".")
	path, name := key[:dot], key[dot+1:]
	if p, ok := pkgs[path]; ok {
		return p.name + "." + name
	}
	return filepath.Base(path) + "." + name
}

func lookup(key string) (*pkg, string) {
	dot := strings.LastIndex(key, ".")
	p, ok := pkgs[key[:dot]]
	if !ok || p.structs[key[dot+1:]] == nil {
		fail("no struct %s among the packages read", key)
	}
	return p, key[dot+1:]
}

func read(path, dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		fail("no Go files in %s", dir)
	}
	p := &pkg{path: path, structs: map[string]*ast.StructType{}, named: map[string]ast.Expr{},
		imports: map[string]map[string]string{}, sdNames: map[string]string{}}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			fail("%v", err)
		}
		p.name = f.Name.Name
		imports := map[string]string{}
		for _, spec := range f.Imports {
			ipath, _ := strconv.Unquote(spec.Path.Value)
			alias := filepath.Base(ipath)
			if spec.Name != nil {
				alias = spec.Name.Name
			}
			imports[alias] = ipath
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok {
						continue
					}
					p.imports[ts.Name.Name] = imports
					if st, ok := ts.Type.(*ast.StructType); ok {
						p.structs[ts.Name.Name] = st
					} else {
						p.named[ts.Name.Name] = ts.Type
					}
				}
			case *ast.FuncDecl:
				if name, typ := sdName(d); name != "" && strings.Contains(path, "/discovery/") {
					p.sdNames[typ] = name
				}
			}
		}
	}
	// Aliases of a local struct (`type KumaSDConfig = SDConfig`) are that struct.
	for name, typ := range p.named {
		if ident, ok := typ.(*ast.Ident); ok && p.structs[ident.Name] != nil {
			p.structs[name] = p.structs[ident.Name]
		}
	}
	pkgs[path] = p
}

// sdName is the name a service discovery config gives itself: `func (*SDConfig) Name() string { return "x" }`.
func sdName(d *ast.FuncDecl) (name, typ string) {
	if d.Name.Name != "Name" || d.Recv == nil || len(d.Recv.List) != 1 || d.Body == nil || len(d.Body.List) != 1 {
		return "", ""
	}
	recv := d.Recv.List[0].Type
	if star, ok := recv.(*ast.StarExpr); ok {
		recv = star.X
	}
	ident, ok := recv.(*ast.Ident)
	if !ok {
		return "", ""
	}
	ret, ok := d.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return "", ""
	}
	lit, ok := ret.Results[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", ""
	}
	name, _ = strconv.Unquote(lit.Value)
	return name, ident.Name
}

// fields appends `key kind` lines for every YAML field of a struct, following `,inline` fields.
func fields(p *pkg, typeName string, st *ast.StructType, lines *[]string, visit func(string)) {
	for _, field := range st.Fields.List {
		tag := ""
		if field.Tag != nil {
			raw, _ := strconv.Unquote(field.Tag.Value)
			tag = reflect.StructTag(raw).Get("yaml")
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := strings.Contains(opts, "inline")
		// discovery.Configs is tagged `yaml:"-"`: the section's UnmarshalYAML reads every <name>_sd_configs key.
		if resolve(p, typeName, field.Type) == "github.com/prometheus/prometheus/discovery.Configs" {
			*lines = append(*lines, "<sd> sd")
			continue
		}
		if name == "-" || (len(field.Names) > 0 && !ast.IsExported(field.Names[0].Name) && tag == "") {
			continue
		}
		kind := kindOf(p, typeName, field.Type, visit)
		if inline || (len(field.Names) == 0 && tag == "") {
			key := resolve(p, typeName, field.Type)
			ip, n := splitKey(key)
			if q, ok := pkgs[ip]; ok && q.structs[n] != nil {
				fields(q, n, q.structs[n], lines, visit)
				continue
			}
			if strings.HasPrefix(kind, "{") { // an inlined map: any key, values of one kind
				*lines = append(*lines, "* "+strings.TrimSuffix(strings.TrimPrefix(kind, "{"), "}"))
				continue
			}
			fail("cannot inline %s in %s.%s", key, p.name, typeName)
		}
		if name == "" {
			if len(field.Names) == 0 {
				continue
			}
			name = strings.ToLower(field.Names[0].Name) // yaml.v2's default key
		}
		*lines = append(*lines, name+" "+kind)
	}
}

func splitKey(key string) (string, string) {
	dot := strings.LastIndex(key, ".")
	if dot < 0 {
		return "", key
	}
	return key[:dot], key[dot+1:]
}

// resolve is the import path and name of a named type as written in package p.
func resolve(p *pkg, typeName string, expr ast.Expr) string {
	switch t := expr.(type) {
	case *ast.StarExpr:
		return resolve(p, typeName, t.X)
	case *ast.Ident:
		return p.path + "." + t.Name
	case *ast.SelectorExpr:
		alias := t.X.(*ast.Ident).Name
		ipath, ok := p.imports[typeName][alias]
		if !ok {
			ipath = alias
		}
		return ipath + "." + t.Sel.Name
	}
	return ""
}

var builtin = map[string]string{
	"string": "string", "bool": "bool", "int": "int", "int64": "int", "int32": "int", "uint": "uint",
	"uint64": "uint", "uint32": "uint", "uint16": "uint", "uint8": "uint", "float64": "float", "float32": "float",
}

func kindOf(p *pkg, typeName string, expr ast.Expr, visit func(string)) string {
	switch t := expr.(type) {
	case *ast.StarExpr:
		return kindOf(p, typeName, t.X, visit)
	case *ast.ArrayType:
		return "[" + kindOf(p, typeName, t.Elt, visit) + "]"
	case *ast.MapType:
		if kindOf(p, typeName, t.Value, visit) == "string" {
			return "map"
		}
		return "{" + kindOf(p, typeName, t.Value, visit) + "}"
	case *ast.InterfaceType:
		return "any"
	case *ast.Ident:
		if k, ok := builtin[t.Name]; ok {
			return k
		}
	}
	key := resolve(p, typeName, expr)
	if k, ok := scalars[key]; ok {
		return k
	}
	ip, n := splitKey(key)
	q, ok := pkgs[ip]
	if !ok {
		return "any"
	}
	if q.structs[n] != nil {
		visit(key)
		return short(key)
	}
	if underlying, ok := q.named[n]; ok {
		return kindOf(q, n, underlying, visit)
	}
	return "any"
}
