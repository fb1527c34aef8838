package soak

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sample is one measurement of the soak, taken every 5 s.
type Sample struct {
	// Elapsed is the time since khist collect started.
	Elapsed time.Duration
	// RSS is khist's resident set (VmRSS), in bytes; RSSFile the part of it that is pages of
	// mapped files (RssFile: the views file, which bbolt maps, and the binary), which the
	// kernel may drop at any time, unlike the rest (the Go heap and stacks).
	RSS, RSSFile int64
	// HWM is khist's peak resident set so far (VmHWM), in bytes: the peak between samples too.
	HWM int64
	// CPU is khist's user+system CPU time so far.
	CPU time.Duration
	// Events is khist_collector_events_total: object versions sent to the log.
	Events int64
	// Objects is khist_collector_objects: the objects khist watches.
	Objects int64
	// Disk is the size of khist's data directory (stream and views), in bytes.
	Disk int64
	// KubectlCPU is the CPU time of the reference kubectl watches so far (all of them, exited
	// ones included), KubectlEvents the watch events they printed.
	KubectlCPU    time.Duration
	KubectlEvents int64
	// Load1 is the machine's one-minute load average (/proc/loadavg).
	Load1 float64
	// Folded is khist_projector_events_folded_total, Lag khist_projector_lag_seconds: how
	// far the in-process projector is behind the log.
	Folded int64
	Lag    float64
}

// csvHeader names Sample's columns.
var csvHeader = []string{"elapsed_s", "rss_bytes", "rss_file_bytes", "cpu_s", "events", "objects", "disk_bytes", "kubectl_cpu_s", "kubectl_events", "load1", "folded", "projector_lag_s", "rss_hwm_bytes"}

// WriteCSV writes samples as CSV with a header line.
func WriteCSV(w io.Writer, samples []Sample) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, s := range samples {
		rec := []string{
			strconv.FormatFloat(s.Elapsed.Seconds(), 'f', 1, 64),
			strconv.FormatInt(s.RSS, 10),
			strconv.FormatInt(s.RSSFile, 10),
			strconv.FormatFloat(s.CPU.Seconds(), 'f', 2, 64),
			strconv.FormatInt(s.Events, 10),
			strconv.FormatInt(s.Objects, 10),
			strconv.FormatInt(s.Disk, 10),
			strconv.FormatFloat(s.KubectlCPU.Seconds(), 'f', 2, 64),
			strconv.FormatInt(s.KubectlEvents, 10),
			strconv.FormatFloat(s.Load1, 'f', 2, 64),
			strconv.FormatInt(s.Folded, 10),
			strconv.FormatFloat(s.Lag, 'f', 1, 64),
			strconv.FormatInt(s.HWM, 10),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads what WriteCSV wrote. Columns are found by name; a column missing (a file
// written before it existed) reads as zero.
func ReadCSV(r io.Reader) ([]Sample, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("soak samples: empty file")
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	if _, ok := col["elapsed_s"]; !ok {
		return nil, fmt.Errorf("soak samples: no header line (want %s)", strings.Join(csvHeader, ","))
	}
	var out []Sample
	for i, rec := range recs[1:] {
		f := map[string]float64{}
		for _, name := range csvHeader {
			j, ok := col[name]
			if !ok {
				continue
			}
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				return nil, fmt.Errorf("soak samples: line %d, %s: %w", i+2, name, err)
			}
			f[name] = v
		}
		out = append(out, Sample{
			Elapsed: seconds(f["elapsed_s"]), RSS: int64(f["rss_bytes"]), RSSFile: int64(f["rss_file_bytes"]), CPU: seconds(f["cpu_s"]),
			Events: int64(f["events"]), Objects: int64(f["objects"]), Disk: int64(f["disk_bytes"]),
			KubectlCPU: seconds(f["kubectl_cpu_s"]), KubectlEvents: int64(f["kubectl_events"]),
			Load1: f["load1"], Folded: int64(f["folded"]), Lag: f["projector_lag_s"], HWM: int64(f["rss_hwm_bytes"]),
		})
	}
	return out, nil
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// ProcStat is what /proc says of a process.
type ProcStat struct {
	RSS     int64         // VmRSS, bytes
	RSSFile int64         // RssFile, bytes: pages of mapped files
	HWM     int64         // VmHWM, bytes: the peak of VmRSS so far
	CPU     time.Duration // utime + stime
}

// ReadProc reads /proc/PID/status and /proc/PID/stat.
func ReadProc(pid int) (ProcStat, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return ProcStat{}, err
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return ProcStat{}, err
	}
	rss, err := parseStatus(string(status), "VmRSS:")
	if err != nil {
		return ProcStat{}, err
	}
	file, err := parseStatus(string(status), "RssFile:")
	if err != nil {
		return ProcStat{}, err
	}
	hwm, err := parseStatus(string(status), "VmHWM:")
	if err != nil {
		return ProcStat{}, err
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return ProcStat{}, err
	}
	return ProcStat{RSS: rss, RSSFile: file, HWM: hwm, CPU: cpu}, nil
}

// parseStatus returns a line of /proc/PID/status in kB (VmRSS:, RssFile:) in bytes.
func parseStatus(status, field string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == field && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/PID/status: no %s line", field)
}

// parseStatCPU returns utime+stime of a /proc/PID/stat line (fields 14 and 15, counted after
// the command name, which may hold spaces and parentheses).
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields", len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// DirBytes is the total size of the regular files under dir.
func DirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a file removed while walking (a compacted block)
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// MetricSum is the sum of every series of the metric name in a Prometheus text exposition
// (all label values), and whether there was one.
func MetricSum(text, name string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a longer name with this prefix
		}
		if rest[0] == '{' {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				continue
			}
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// loadAvg1 is the one-minute load average.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// ParseFractions parses "0.5,0.9": fractions in [0, 1], in increasing order. Empty: none.
func ParseFractions(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || v > 1 || (len(out) > 0 && v <= out[len(out)-1]) {
			return nil, fmt.Errorf("%q: use increasing fractions of the duration between 0 and 1, e.g. 0.5,0.9", s)
		}
		out = append(out, v)
	}
	return out, nil
}
