// Command binpages says how much of a running process's executable is in
// its memory, section by section: the part of its RSS that is the binary
// (RssFile, mostly), which the binary's size bounds rather than what the
// process does. It reads /proc/PID/maps and /proc/PID/pagemap (root only)
// and the ELF section headers of /proc/PID/exe.
//
//	binpages PID
package main

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const pageSize = 4096

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: binpages PID")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "binpages:", err)
		os.Exit(1)
	}
}

func run(pid string) error {
	exe, err := os.Readlink(filepath.Join("/proc", pid, "exe"))
	if err != nil {
		return err
	}
	present, err := presentPages(pid, exe)
	if err != nil {
		return err
	}
	f, err := elf.Open(filepath.Join("/proc", pid, "exe"))
	if err != nil {
		return err
	}
	defer f.Close()
	var of uint64
	counted := map[uint64]bool{} // a page two small sections share counts once
	fmt.Printf("%s (pid %s)\n", exe, pid)
	for _, s := range f.Sections {
		// Allocated sections with contents in the file: .bss and
		// .noptrbss are anonymous memory, not the binary.
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		n := uint64(0)
		for a := s.Addr &^ (pageSize - 1); a < s.Addr+s.Size; a += pageSize {
			if present[a] {
				n++
				counted[a] = true
			}
		}
		of += s.Size
		if s.Size >= 64<<10 {
			fmt.Printf("  %-12s %6.1f of %6.1f MiB\n", s.Name, mib(n*pageSize), mib(s.Size))
		}
	}
	fmt.Printf("  %-12s %6.1f of %6.1f MiB\n", "all", mib(uint64(len(counted))*pageSize), mib(of))
	return nil
}

// presentPages are the addresses of the pages of exe's mappings in pid
// that are in memory.
func presentPages(pid, exe string) (map[uint64]bool, error) {
	maps, err := os.Open(filepath.Join("/proc", pid, "maps"))
	if err != nil {
		return nil, err
	}
	defer maps.Close()
	pagemap, err := os.Open(filepath.Join("/proc", pid, "pagemap"))
	if err != nil {
		return nil, err
	}
	defer pagemap.Close()
	present := map[uint64]bool{}
	entry := make([]byte, 8)
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("maps: %q", sc.Text())
		}
		for a := start; a < end; a += pageSize {
			if _, err := pagemap.ReadAt(entry, int64(a/pageSize*8)); err != nil {
				return nil, err
			}
			if binary.LittleEndian.Uint64(entry)&(1<<63) != 0 { // bit 63: present
				present[a] = true
			}
		}
	}
	return present, sc.Err()
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
