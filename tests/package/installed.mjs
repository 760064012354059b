// The installed package as a user's desktop sees it. scripts/package-test.sh has built the .deb
// with Tauri's bundler (RINGDESK_DEB); this installs it, checks the link handlers it declares
// (with no help from the app's own run-time registration), starts the installed binary headless
// through tauri-driver, opens a tel: link with xdg-open and sees the dialpad filled, then removes
// the package and checks nothing of it is left.
//
// Prints one line per test and `package: N passed, N failed`; exits non-zero on failure.

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebDriver, endApp } from "../e2e/webdriver.mjs";

const deb = process.env.RINGDESK_DEB;
if (!deb || !existsSync(deb)) throw new Error(`RINGDESK_DEB does not name a .deb: ${deb}`);
const results = [];

async function test(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push(true);
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL  ${name}: ${e.message}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

const run = (cmd, args, env = process.env) => execFileSync(cmd, args, { env, encoding: "utf8" }).trim();
const field = (name) => run("dpkg-deb", ["--field", deb, name]);
const pkg = field("Package");
const schemes = ["tel", "callto", "sip", "ringdesk"];

// A desktop session that never ran Ringdesk: no handler registered at run time, no defaults.
const fresh = () => ({
  ...process.env,
  XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), "ringdesk-pkg-config-")),
  XDG_DATA_HOME: mkdtempSync(join(tmpdir(), "ringdesk-pkg-data-")),
});

let entry = "";
let binary = "";

await test("the .deb installs Ringdesk: its binary, its icon, and a desktop entry that takes links", async () => {
  run("dpkg", ["--install", deb]);
  const files = run("dpkg", ["--listfiles", pkg]).split("\n");
  binary = files.find((f) => f.startsWith("/usr/bin/")) ?? "";
  assert(binary && existsSync(binary), `a binary in /usr/bin: ${files.join(" ")}`);
  entry = files.find((f) => f.startsWith("/usr/share/applications/") && f.endsWith(".desktop")) ?? "";
  assert(entry, `a desktop entry: ${files.join(" ")}`);
  assert(files.some((f) => f.startsWith("/usr/share/icons/")), "an icon");
  const text = readFileSync(entry, "utf8");
  for (const s of schemes) assert(text.includes(`x-scheme-handler/${s}`), `MimeType names ${s}: ${text}`);
  // Without a field code the desktop starts the app without the link (tauri-apps/tauri#15928).
  assert(/^Exec=\S+ %u$/m.test(text), `Exec passes the link: ${text}`);
});

await test("xdg-mime names the installed Ringdesk as the handler of tel:, callto:, sip: and ringdesk: links", async () => {
  const env = fresh();
  const name = entry.split("/").pop();
  for (const s of schemes) {
    const handler = run("xdg-mime", ["query", "default", `x-scheme-handler/${s}`], env);
    assert(handler === name, `x-scheme-handler/${s} → ${handler || "nothing"}`);
  }
});

await test("the installed Ringdesk, started headless, takes a tel: link opened with xdg-open", async () => {
  const env = {
    ...fresh(),
    RINGDESK_DATA_DIR: mkdtempSync(join(tmpdir(), "ringdesk-pkg-")),
    RINGDESK_KEYRING_SERVICE: `ringdesk-pkg-${process.pid}`,
    RINGDESK_REGION: "US",
  };
  const port = 5444 + (process.pid % 1000);
  const driver = spawn(process.env.TAURI_DRIVER ?? "tauri-driver", ["--port", String(port), "--native-port", String(port + 1)], { env, stdio: "ignore" });
  const wd = new WebDriver(`http://127.0.0.1:${port}`);
  try {
    await wd.waitReady();
    await wd.start({ alwaysMatch: { "tauri:options": { application: binary } } });
    await wd.waitFor('[data-testid="dial-input"]', { timeoutMs: 30000 });
    // xdg-open in a session of its own: it can only find Ringdesk through the package.
    run("xdg-open", ["tel:+1-415-555-2671"], { ...env, ...fresh() });
    await wd.waitFor('[data-testid="dial-link-banner"]', { text: "+1 415-555-2671", timeoutMs: 15000 });
    const value = await wd.property('[data-testid="dial-input"]', "value");
    assert(value === "+14155552671", `the dialpad holds ${value}`);
  } finally {
    await wd.stop().catch(() => {});
    driver.kill();
    await endApp(binary);
  }
});

await test("removing the package leaves nothing of Ringdesk behind", async () => {
  run("dpkg", ["--purge", pkg]);
  assert(!existsSync(binary), `${binary} is gone`);
  assert(!existsSync(entry), `${entry} is gone`);
  const cache = "/usr/share/applications/mimeinfo.cache";
  const name = entry.split("/").pop();
  assert(!existsSync(cache) || !readFileSync(cache, "utf8").includes(name), "no handler left in the MIME cache");
  const leftovers = readdirSync("/usr/bin").filter((f) => f === binary.split("/").pop());
  assert(leftovers.length === 0, "no binary left");
});

// Whatever happened above, the machine is left as it was.
try {
  execFileSync("dpkg", ["--purge", pkg], { stdio: "ignore" });
} catch {}
const passed = results.filter(Boolean).length;
console.log(`package: ${passed} passed, ${results.length - passed} failed`);
process.exit(results.every(Boolean) ? 0 : 1);
