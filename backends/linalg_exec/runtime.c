/* tritondiff Ascend-on-CPU runtime: what MLIR 19's lowered kernels call, written for tritondiff.
 *
 * Why it exists: Debian ships no libmlir_c_runner_utils, and we want the lowered code's own
 * allocations to be poisoned (uninitialised reads show as NaN / -1) and guarded (an overrun of
 * an internal buffer faults), and faults reported with their address and program id.
 *
 *  - memrefCopy: strided N-d copy behind `memref.copy` of non-contiguous memrefs.
 *  - _mlir_memref_to_llvm_{alloc,aligned_alloc,free}: used with
 *    finalize-memref-to-llvm{use-generic-functions=true}; every block is filled with the poison
 *    byte and, while fewer than TD_MAX_GUARDED blocks are live, ends right before a PROT_NONE page.
 *    Blocks live until td_program_begin (one arena per program); free() makes a guarded block
 *    inaccessible so a use after free faults.
 *  - td_install_fault_handler: SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT write one fixed-size record
 *    (signal, code, address, program id, whether the address is in an internal guard) to a pipe,
 *    then the signal kills the process as usual.
 *  - __truncsfbf2/__truncdfbf2: llc emits these for bf16 truncation; GCC 12's libgcc lacks them.
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define TD_PAGE 4096
#define TD_MAX_GUARDED 8192

typedef struct {
  int64_t rank;
  char *desc;
} td_unranked;

static inline void desc_parts(const td_unranked *m, char **base, int64_t *off, int64_t **sizes,
                              int64_t **strides) {
  /* ranked descriptor: allocated, aligned, offset, sizes[rank], strides[rank] */
  *base = *(char **)(m->desc + sizeof(void *));
  *off = *(int64_t *)(m->desc + 2 * sizeof(void *));
  *sizes = (int64_t *)(m->desc + 2 * sizeof(void *) + sizeof(int64_t));
  *strides = *sizes + m->rank;
}

void memrefCopy(int64_t es, td_unranked *src, td_unranked *dst) {
  char *sb, *db;
  int64_t so, dof, *sz, *ss, *dsz, *ds;
  desc_parts(src, &sb, &so, &sz, &ss);
  desc_parts(dst, &db, &dof, &dsz, &ds);
  int64_t rank = src->rank;
  if (rank == 0) {
    memmove(db + dof * es, sb + so * es, (size_t)es);
    return;
  }
  for (int64_t d = 0; d < rank; d++)
    if (sz[d] <= 0) return;
  int64_t idx[64] = {0};
  if (rank > 64) abort();
  int64_t inner = sz[rank - 1];
  int contiguous = ss[rank - 1] == 1 && ds[rank - 1] == 1;
  for (;;) {
    int64_t soff = so, doff = dof;
    for (int64_t d = 0; d < rank - 1; d++) {
      soff += idx[d] * ss[d];
      doff += idx[d] * ds[d];
    }
    if (contiguous) {
      memmove(db + doff * es, sb + soff * es, (size_t)(inner * es));
    } else {
      for (int64_t i = 0; i < inner; i++)
        memmove(db + (doff + i * ds[rank - 1]) * es, sb + (soff + i * ss[rank - 1]) * es, (size_t)es);
    }
    int64_t d = rank - 2;
    for (; d >= 0; d--) {
      if (++idx[d] < sz[d]) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/* ---- poisoned, guarded arena ---- */
typedef struct {
  char *map;     /* mmap base, NULL when malloc'ed */
  size_t maplen;
  char *user;
  size_t size;
} td_block;

static td_block *g_blocks;
static size_t g_nblocks, g_cap;
static int g_poison = 0xFF;
static int g_guard_allocs = 1;
static volatile int32_t g_pid[3];

void td_configure(int poison_byte, int guard_allocs) {
  g_poison = poison_byte & 0xFF;
  g_guard_allocs = guard_allocs;
}

static void *td_alloc(size_t size, size_t align) {
  if (align < 16) align = 16;
  if (size == 0) size = 1;
  if (g_nblocks == g_cap) {
    size_t cap = g_cap ? 2 * g_cap : 256;
    td_block *nb = realloc(g_blocks, cap * sizeof(td_block));
    if (!nb) return NULL;
    g_blocks = nb;
    g_cap = cap;
  }
  td_block b = {0};
  size_t rounded = (size + align - 1) & ~(align - 1);
  if (g_guard_allocs && g_nblocks < TD_MAX_GUARDED && align <= TD_PAGE) {
    size_t body = (rounded + TD_PAGE - 1) & ~(size_t)(TD_PAGE - 1);
    b.maplen = body + TD_PAGE;
    b.map = mmap(NULL, b.maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b.map == MAP_FAILED) return NULL;
    mprotect(b.map + body, TD_PAGE, PROT_NONE);
    b.user = b.map + body - rounded; /* ends at the guard page, up to align-1 bytes of slack */
    memset(b.map, g_poison, body);
  } else {
    b.user = aligned_alloc(align, rounded);
    if (!b.user) return NULL;
    memset(b.user, g_poison, rounded);
  }
  b.size = size;
  g_blocks[g_nblocks++] = b;
  return b.user;
}

void *_mlir_memref_to_llvm_alloc(size_t size) { return td_alloc(size, 16); }
void *_mlir_memref_to_llvm_aligned_alloc(size_t align, size_t size) { return td_alloc(size, align); }

void _mlir_memref_to_llvm_free(void *p) {
  for (size_t i = g_nblocks; i-- > 0;) {
    td_block *b = &g_blocks[i];
    if (b->user == p) {
      if (b->map) mprotect(b->map, b->maplen, PROT_NONE); /* use after free faults */
      return;
    }
  }
}

void td_arena_reset(void) {
  for (size_t i = 0; i < g_nblocks; i++) {
    if (g_blocks[i].map)
      munmap(g_blocks[i].map, g_blocks[i].maplen);
    else
      free(g_blocks[i].user);
  }
  g_nblocks = 0;
}

void td_program_begin(int32_t x, int32_t y, int32_t z) {
  td_arena_reset();
  g_pid[0] = x;
  g_pid[1] = y;
  g_pid[2] = z;
}

/* ---- fault reporting ---- */
typedef struct {
  int32_t magic; /* 0x54444654 'TDFT' */
  int32_t signo;
  int32_t code;
  int32_t internal; /* 1: internal guard page, 2: freed internal block, 0: elsewhere */
  uint64_t addr;
  int32_t pid[3];
  int32_t access; /* 0 unknown, 1 read, 2 write (x86-64 page-fault error code) */
} td_fault;

static int g_fault_fd = -1;
static char g_altstack[1 << 16];

static void td_on_fault(int sig, siginfo_t *si, void *uc) {
  td_fault r;
  memset(&r, 0, sizeof r);
  r.magic = 0x54444654;
  r.signo = sig;
  r.code = si ? si->si_code : 0;
  r.addr = si ? (uint64_t)(uintptr_t)si->si_addr : 0;
  for (int i = 0; i < 3; i++) r.pid[i] = g_pid[i];
#if defined(__x86_64__)
  if (uc && sig == SIGSEGV) r.access = (((ucontext_t *)uc)->uc_mcontext.gregs[REG_ERR] & 2) ? 2 : 1;
#else
  (void)uc;
#endif
  for (size_t i = 0; i < g_nblocks; i++) {
    td_block *b = &g_blocks[i];
    if (!b->map) continue;
    char *a = (char *)(uintptr_t)r.addr;
    if (a >= b->map + b->maplen - TD_PAGE && a < b->map + b->maplen) r.internal = 1;
    else if (a >= b->map && a < b->map + b->maplen) r.internal = 2;
  }
  if (g_fault_fd >= 0) {
    ssize_t w = write(g_fault_fd, &r, sizeof r);
    (void)w;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

int td_install_fault_handler(int fd) {
  g_fault_fd = fd;
  stack_t ss;
  ss.ss_sp = g_altstack;
  ss.ss_size = sizeof g_altstack;
  ss.ss_flags = 0;
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = td_on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) return -1;
  return 0;
}

/* ---- bf16 truncation (round to nearest even; NaN stays NaN) ---- */
static uint16_t td_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* bf16 travels in an SSE register like _Float16 on x86-64; the bits are what matter. */
_Float16 __truncsfbf2(float f) {
  uint16_t b = td_f32_to_bf16(f);
  _Float16 h;
  memcpy(&h, &b, 2);
  return h;
}

_Float16 __truncdfbf2(double d) {
  /* round to odd into f32 first, so the second rounding to bf16 is exact RNE */
  int old = fegetround();
  fesetround(FE_TOWARDZERO);
  volatile float f = (float)d;
  fesetround(old);
  if ((double)f != d && f == f) {
    uint32_t u;
    float g = f;
    memcpy(&u, &g, 4);
    if ((u & 0x7fffffffu) < 0x7f800000u) u |= 1u;
    memcpy(&g, &u, 4);
    f = g;
  }
  return __truncsfbf2(f);
}
