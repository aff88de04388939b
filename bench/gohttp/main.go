// gohttp: a minimal stand-in for Warewulf's warewulfd provisioning server, used as the "Go
// net/http" baseline by bench/bootstorm-compare.sh. It serves Warewulf's provision layout the
// way warewulfd v4.7 does (reference/warewulf.md section 1): one goroutine per connection,
// keep-alive, the iPXE script rendered from a text/template parsed on every request, files sent
// with http.ServeContent (sendfile), ?compress=gz picking the .gz file (404 if absent), and an
// in-memory status map updated after every send. Standard library only.
//
// Layout under -root:
//
//	nodes.json                                   [{"name":"n00000","mac":"52:54:00:00:00:00","image":"bench"}]
//	ipxe/default.ipxe                            optional; a built-in Warewulf-like template otherwise
//	chroots/<image>/rootfs/boot/vmlinuz          kernel, served uncompressed
//	provision/images/<image>.img[.gz|.zst]
//	provision/overlays/<node>/__SYSTEM__.img[.gz|.zst], __RUNTIME__.img[.gz|.zst]
//
// Listens on loopback only.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
)

// A Warewulf-like default.ipxe (written for this benchmark): kernel first, then image, system
// and runtime as initrds (imgextract on EFI), then boot with the initrd= arguments.
const builtinTemplate = `#!ipxe
echo ================================================================================
echo gohttp (warewulfd stand-in): node {{.Id}} image {{.ImageName}} hwaddr {{.Hwaddr}}
echo ================================================================================
set base http://{{.Authority}}
set hwaddr {{.Hwaddr}}
set params assetkey=${asset}&uuid=${uuid}
kernel --name kernel ${base}/kernel/${hwaddr}?${params} || goto reboot
iseq ${platform} efi && goto imgextract || goto initrd
:imgextract
imgextract --name image ${base}/image/${hwaddr}?${params}&compress={{.Compress}} || goto initrd
imgextract --name system ${base}/system/${hwaddr}?${params}&compress={{.Compress}} || goto initrd
imgextract --name runtime ${base}/runtime/${hwaddr}?${params}&compress={{.Compress}} || echo no runtime overlay
goto boot
:initrd
initrd --name image ${base}/image/${hwaddr}?${params}&compress={{.Compress}} || goto reboot
initrd --name system ${base}/system/${hwaddr}?${params}&compress={{.Compress}} || goto reboot
initrd --name runtime ${base}/runtime/${hwaddr}?${params}&compress={{.Compress}} || echo no runtime overlay
:boot
boot kernel initrd=image initrd=system initrd=runtime wwid={{.Hwaddr}} {{.KernelArgs}} || goto reboot
:reboot
echo Something went wrong, rebooting in 15s
sleep 15
reboot
`

const unconfiguredTemplate = `#!ipxe
echo This node is unconfigured. HW address: {{.Hwaddr}}
sleep 60
reboot
`

type nodeConf struct {
	Name  string `json:"name"`
	Mac   string `json:"mac"`
	Image string `json:"image"`
	Args  string `json:"args"`
}

type statusEntry struct {
	NodeName string `json:"node name"`
	Stage    string `json:"stage"`
	Sent     string `json:"sent"`
	Ipaddr   string `json:"ipaddr"`
	LastSeen int64  `json:"last seen"`
}

type server struct {
	root     string
	compress string
	byMac    map[string]*nodeConf
	mu       sync.Mutex
	status   map[string]*statusEntry
}

func normMac(h string) string {
	return strings.ToLower(strings.ReplaceAll(h, "-", ":"))
}

func (s *server) setStatus(n *nodeConf, stage, sent, remote string) {
	ip, _, _ := net.SplitHostPort(remote)
	s.mu.Lock()
	s.status[n.Name] = &statusEntry{n.Name, stage, sent, ip, time.Now().Unix()}
	s.mu.Unlock()
}

// parse returns the stage and the node named by /<stage>/<wwid> or ?wwid=.
func (s *server) parse(r *http.Request) (stage, hw string, n *nodeConf) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	stage = parts[0]
	if stage == "provision" {
		stage = r.URL.Query().Get("stage")
		if stage == "" {
			stage = "ipxe"
		}
	}
	switch stage {
	case "container":
		stage = "image"
	case "overlay-system":
		stage = "system"
	case "overlay-runtime":
		stage = "runtime"
	}
	if len(parts) > 1 && parts[1] != "" {
		hw = parts[1]
	} else {
		hw = r.URL.Query().Get("wwid")
	}
	hw = normMac(hw)
	return stage, hw, s.byMac[hw]
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	stage, hw, n := s.parse(r)
	if hw == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if stage == "ipxe" {
		s.sendIpxe(w, r, hw, n)
		return
	}
	if n == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var file string
	switch stage {
	case "kernel":
		file = filepath.Join(s.root, "chroots", n.Image, "rootfs", "boot", "vmlinuz")
	case "image":
		file = filepath.Join(s.root, "provision", "images", n.Image+".img")
	case "system":
		file = filepath.Join(s.root, "provision", "overlays", n.Name, "__SYSTEM__.img")
	case "runtime":
		file = filepath.Join(s.root, "provision", "overlays", n.Name, "__RUNTIME__.img")
	default:
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch c := r.URL.Query().Get("compress"); c {
	case "":
	case "gz":
		file += ".gz"
	case "zstd":
		file += ".zst" // not in warewulfd; used by the zstd pattern
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if st.Size() == 0 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	http.ServeContent(w, r, filepath.Base(file), st.ModTime(), f)
	s.setStatus(n, stage, filepath.Base(file), r.RemoteAddr)
}

type ipxeData struct {
	Id, Hostname, ImageName, Hwaddr, Authority, KernelArgs, Compress string
}

// render fills the iPXE template for one node (nil: the unconfigured script).
func (s *server) render(hw, authority string, n *nodeConf) ([]byte, error) {
	d := ipxeData{Hwaddr: hw, Authority: authority, Compress: s.compress}
	text := unconfiguredTemplate
	if n != nil {
		d.Id, d.Hostname, d.ImageName, d.KernelArgs = n.Name, n.Name, n.Image, n.Args
		text = builtinTemplate
		// Like warewulfd, read and parse the template on every request.
		if b, err := os.ReadFile(filepath.Join(s.root, "ipxe", "default.ipxe")); err == nil {
			text = string(b)
		}
	}
	t, err := template.New("ipxe").Parse(text)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// renderAll pre-renders the script of every node, as iPXE would request it (${mac:hexhyp}).
func (s *server) renderAll(dir, authority string, nodes []*nodeConf) error {
	if err := os.MkdirAll(dir, 0755); err != nil {
		return err
	}
	for _, n := range nodes {
		hw := strings.ToLower(strings.ReplaceAll(n.Mac, ":", "-"))
		b, err := s.render(hw, authority, n)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, n.Name+".ipxe"), b, 0644); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) sendIpxe(w http.ResponseWriter, r *http.Request, hw string, n *nodeConf) {
	b, err := s.render(hw, r.Host, n)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
	if n != nil {
		s.setStatus(n, "ipxe", "default.ipxe", r.RemoteAddr)
	}
}

func (s *server) handleStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, _ := json.MarshalIndent(map[string]interface{}{"nodes": s.status}, "", "  ")
	s.mu.Unlock()
	w.Write(b)
}

func main() {
	root := flag.String("root", ".", "export root (nodes.json, chroots/, provision/)")
	listen := flag.String("listen", "127.0.0.1:9873", "loopback address:port to listen on")
	compress := flag.String("compress", "gz", "compress= value written into iPXE scripts (gz|zstd)")
	renderTo := flag.String("render-to", "", "write every node's rendered script to DIR/<node>.ipxe and exit (for nginx)")
	authority := flag.String("authority", "", "with -render-to: the host:port the scripts point at")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatalf("bad -listen: %v", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Fatalf("refusing to listen on non-loopback address %q", host)
	}
	b, err := os.ReadFile(filepath.Join(*root, "nodes.json"))
	if err != nil {
		log.Fatal(err)
	}
	var nodes []*nodeConf
	if err := json.Unmarshal(b, &nodes); err != nil {
		log.Fatalf("nodes.json: %v", err)
	}
	s := &server{root: *root, compress: *compress, byMac: map[string]*nodeConf{},
		status: map[string]*statusEntry{}}
	for _, n := range nodes {
		s.byMac[normMac(n.Mac)] = n
	}
	if *renderTo != "" {
		if err := s.renderAll(*renderTo, *authority, nodes); err != nil {
			log.Fatal(err)
		}
		return
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/ipxe/", "/kernel/", "/image/", "/system/", "/runtime/",
		"/provision/", "/container/", "/overlay-system/", "/overlay-runtime/"} {
		mux.HandleFunc(p, s.handle)
	}
	mux.HandleFunc("/status", s.handleStatus)
	// Like warewulfd's slashFix: collapse "//" before routing.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for strings.Contains(r.URL.Path, "//") {
			r.URL.Path = strings.ReplaceAll(r.URL.Path, "//", "/")
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "gohttp: %d nodes, serving %s on %s\n", len(nodes), *root, ln.Addr())
	log.Fatal(http.Serve(ln, h))
}
