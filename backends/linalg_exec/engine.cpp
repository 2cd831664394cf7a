// tritondiff linalg engine: MLIR 19 + LLVM 19 in one long-lived process, written for tritondiff.
//
// Why: running mlir-opt, mlir-translate, llc and cc once per kernel spends most of its time
// starting those programs (about 30 ms each). This library does the same work in-process, step
// for step, so that the lowering costs only the passes themselves:
//   parse (all upstream dialects and extensions registered, as in mlir-opt)
//   -> the textual pass pipeline (implicit nesting, verifier on, as in mlir-opt)
//   -> LLVM-dialect text (the `lowered` artifact, printed as mlir-opt prints it)
//   -> translateModuleToLLVMIR (as mlir-translate --mlir-to-llvmir)
//   -> object code from a TargetMachine built as llc builds it (default triple, CPU "",
//      no features, PIC, the requested -O level)
//   -> the object is linked into the process by ORC (JITLink), its symbols resolved against the
//      process (our runtime is loaded globally beforehand), and the kernel's address returned.
// The object bytes are also handed back so the caller can cache them across processes.
// Nothing here executes a kernel: the caller forks a child for that.

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

struct Engine {
  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> ctx;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  unsigned long next_id = 0;
};

char *dup(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  return p;
}

void set_error(char **err, const std::string &stage, const std::string &msg) {
  if (err) *err = dup(stage + ": " + msg);
}

std::string to_string(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

// The TargetMachine llc builds for `llc -O<n> -relocation-model=pic` with no -mcpu/-mattr.
std::unique_ptr<llvm::TargetMachine> make_tm(int opt, std::string &err) {
  std::string triple = llvm::sys::getDefaultTargetTriple();
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!target) return nullptr;
  llvm::TargetOptions options;
  auto level = opt <= 0 ? llvm::CodeGenOptLevel::None
               : opt == 1 ? llvm::CodeGenOptLevel::Less
               : opt == 2 ? llvm::CodeGenOptLevel::Default
                          : llvm::CodeGenOptLevel::Aggressive;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, "", "", options, llvm::Reloc::PIC_, std::nullopt, level));
}

}  // namespace

extern "C" {

// One engine per process; single-threaded MLIR context (the caller forks).
void *tde_create(char **err) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::InitializeNativeTargetAsmParser();
  auto *e = new Engine();
  mlir::registerAllDialects(e->registry);
  mlir::registerAllExtensions(e->registry);
  mlir::registerAllToLLVMIRTranslations(e->registry);
  mlir::registerAllPasses();
  e->ctx = std::make_unique<mlir::MLIRContext>(e->registry, mlir::MLIRContext::Threading::DISABLED);
  auto jit = llvm::orc::LLJITBuilder().setNumCompileThreads(0).create();
  if (!jit) {
    set_error(err, "jit", to_string(jit.takeError()));
    delete e;
    return nullptr;
  }
  e->jit = std::move(*jit);
  return e;
}

void tde_free(void *p) { std::free(p); }

// MLIR text -> LLVM-dialect text + object bytes. Returns 0 on success; on failure *err says
// which step failed and why (diagnostics as mlir-opt prints them).
int tde_lower(void *engine, const char *src, size_t n, const char *pipeline, int opt,
              char **lowered, char **obj, size_t *obj_len, char **err, double *times,
              int verify_each) {
  auto *e = static_cast<Engine *>(engine);
  auto t0 = std::chrono::steady_clock::now();
  auto lap = [&](int i) {
    auto t = std::chrono::steady_clock::now();
    if (times) times[i] = std::chrono::duration<double>(t - t0).count();
    t0 = t;
  };
  std::string diags;
  llvm::raw_string_ostream dos(diags);
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(src, n), "<linalg>"),
                        llvm::SMLoc());
  mlir::SourceMgrDiagnosticHandler handler(sm, e->ctx.get(), dos);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceFile<mlir::ModuleOp>(sm, e->ctx.get());
  if (!module) {
    set_error(err, "mlir-opt (parse)", dos.str());
    return 1;
  }
  lap(0);
  mlir::PassManager pm(e->ctx.get(), mlir::ModuleOp::getOperationName(),
                       mlir::OpPassManager::Nesting::Implicit);
  pm.enableVerifier(verify_each != 0);
  std::string perr;
  llvm::raw_string_ostream pos(perr);
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, pos))) {
    set_error(err, "mlir-opt (pipeline)", pos.str());
    return 1;
  }
  if (mlir::failed(pm.run(*module))) {
    set_error(err, "mlir-opt", dos.str());
    return 1;
  }
  if (!verify_each && mlir::failed(mlir::verify(*module))) {
    set_error(err, "mlir-opt (verify)", dos.str());
    return 1;
  }
  lap(1);
  {
    std::string text;
    llvm::raw_string_ostream tos(text);
    module->print(tos);
    tos << "\n";
    *lowered = dup(tos.str());
  }
  lap(2);
  llvm::LLVMContext llctx;
  std::unique_ptr<llvm::Module> llmod = mlir::translateModuleToLLVMIR(*module, llctx);
  if (!llmod) {
    set_error(err, "mlir-translate", dos.str());
    return 1;
  }
  lap(3);
  std::string tmerr;
  auto tm = make_tm(opt, tmerr);
  if (!tm) {
    set_error(err, "llc (target)", tmerr);
    return 1;
  }
  llmod->setTargetTriple(tm->getTargetTriple().str());
  llmod->setDataLayout(tm->createDataLayout());
  std::string verr;
  llvm::raw_string_ostream vos(verr);
  if (llvm::verifyModule(*llmod, &vos)) {
    set_error(err, "llc (verify)", vos.str());
    return 1;
  }
  llvm::SmallVector<char, 0> buf;
  {
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager cg;
    llvm::TargetLibraryInfoImpl tlii(tm->getTargetTriple());
    cg.add(new llvm::TargetLibraryInfoWrapperPass(tlii));
    if (tm->addPassesToEmitFile(cg, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
      set_error(err, "llc", "target cannot emit an object file");
      return 1;
    }
    cg.run(*llmod);
  }
  lap(4);
  *obj_len = buf.size();
  *obj = static_cast<char *>(std::malloc(buf.size() ? buf.size() : 1));
  std::memcpy(*obj, buf.data(), buf.size());
  return 0;
}

// Link an object into its own JITDylib (kernels of different cases share names) and return the
// address of `symbol`; the dylib handle goes to *dylib for tde_unload. 0 on failure.
unsigned long long tde_load(void *engine, const char *obj, size_t n, const char *symbol,
                            void **dylib, char **err) {
  auto *e = static_cast<Engine *>(engine);
  auto &es = e->jit->getExecutionSession();
  auto jd = es.createJITDylib("td" + std::to_string(e->next_id++));
  if (!jd) {
    set_error(err, "link", to_string(jd.takeError()));
    return 0;
  }
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      e->jit->getDataLayout().getGlobalPrefix());
  if (!gen) {
    set_error(err, "link", to_string(gen.takeError()));
    return 0;
  }
  jd->addGenerator(std::move(*gen));
  auto mb = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(obj, n), "kernel.o");
  if (auto x = e->jit->addObjectFile(*jd, std::move(mb))) {
    set_error(err, "link", to_string(std::move(x)));
    (void)es.removeJITDylib(*jd);
    return 0;
  }
  auto sym = e->jit->lookup(*jd, symbol);
  if (!sym) {
    set_error(err, "link", to_string(sym.takeError()));
    (void)es.removeJITDylib(*jd);
    return 0;
  }
  *dylib = &*jd;
  return sym->getValue();
}

void tde_unload(void *engine, void *dylib) {
  auto *e = static_cast<Engine *>(engine);
  (void)e->jit->getExecutionSession().removeJITDylib(*static_cast<llvm::orc::JITDylib *>(dylib));
}

}  // extern "C"
