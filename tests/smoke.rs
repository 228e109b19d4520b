use jsruntime::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke() {
    let t = std::time::Instant::now();
    let rt = Runtime::new(Config::default()).expect("runtime");
    eprintln!("startup {:?}", t.elapsed());
    for src in ["2 + 2", "throw new Error('test panic')", "let x = ;", "eval('1')", "new Function('return 1')()", "(function(){}).constructor('return 1')()",
        "function f(n){return n==0?0:1+f(n-1)}; f(1000)", "function f(n){return n==0?0:1+f(n-1)}; f(5000)", "function f(n){return n==0?0:1+f(n-1)}; f(1e6)",
        "Promise.resolve(5)", "console.log('hi', {a:1}, [1,2]); Math.random()", "context.tenantID", "'x'.repeat(1e7).length", "let a=[]; while(true) a.push(new Array(1000).fill(1))",
        "while(true){}", "throw 1", "throw null", "throw {a:1}", "'\\ud800'", "1n", "({get a(){throw new Error('g')}})"] {
        let t = std::time::Instant::now();
        let r = rt.execute_detailed(&ExecRequest::source(src).timeout(Duration::from_millis(300))).await;
        eprintln!("{src:.50} => {:?} logs={:?} stats={:?} [{:?}]", r.result, r.logs, r.stats, t.elapsed());
    }
}
