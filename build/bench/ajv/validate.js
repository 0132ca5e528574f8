// Validates a JSONL file line by line against a JSON Schema (draft 2020-12,
// formats asserted) with ajv 8: the baseline pawl's benchmark compares with.
// Usage: node validate.js SCHEMA FILE   -> prints {"records":N,"valid":V,"invalid":I,"seconds":S}
"use strict";
const fs = require("fs");
const readline = require("readline");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const [schemaPath, file] = process.argv.slice(2);
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, "utf8")));

const start = process.hrtime.bigint();
let records = 0, valid = 0, invalid = 0;
const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.length === 0) return;
  records++;
  let v;
  try { v = JSON.parse(line); } catch (e) { invalid++; return; }
  if (validate(v)) valid++; else invalid++;
});
rl.on("close", () => {
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ records, valid, invalid, seconds }));
});
