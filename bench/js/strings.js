// String building and regular expressions: a ~1.3 MB access log built from template
// strings and joins, then searched, captured, replaced and split with regexes.
(function () {
  const lines = [];
  for (let i = 0; i < 20000; i++) {
    lines.push(
      `user${i}@example${i % 17}.com GET /path/${i % 101}/page?id=${i * 31} 2024-0${1 + (i % 9)}-1${i % 10} ${200 + (i % 3) * 100}`
    );
  }
  const log = lines.join("\n");
  let built = "";
  for (let i = 0; i < 20000; i++) built += String.fromCharCode(97 + (i % 26));
  const emails = log.match(/[a-z0-9]+@[a-z0-9]+\.com/g).length;
  let monthSum = 0;
  for (const m of log.matchAll(/(\d{4})-(\d{2})-(\d{2})/g)) monthSum += Number(m[2]);
  const rewritten = log.replace(/\/path\/(\d+)/g, (_, n) => "/p/" + Number(n) * 2);
  const errors = log.split("\n").filter((line) => / [45]\d\d$/.test(line)).length;
  const words = log.split(/\s+/).filter((word) => /^[A-Z]+$/.test(word)).length;
  return {
    length: log.length,
    emails,
    monthSum,
    rewritten: rewritten.length,
    errors,
    words,
    built: built.length,
    upper: built.toUpperCase().slice(0, 26),
  };
})()
