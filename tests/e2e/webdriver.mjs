// A small W3C WebDriver client over Node's fetch — enough to drive the Tauri window through
// tauri-driver and WebKitWebDriver without a large client library.

import { execFileSync } from "node:child_process";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class WebDriver {
  constructor(url) {
    this.url = url;
    this.session = null;
  }

  async request(method, path, body) {
    const res = await fetch(this.url + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) {
      const v = json.value ?? {};
      throw new Error(`${method} ${path}: ${v.error ?? res.status} ${v.message ?? ""}`.trim());
    }
    return json.value;
  }

  async waitReady(timeoutMs = 20000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.request("GET", "/status");
        return;
      } catch (e) {
        if (Date.now() > end) throw new Error(`WebDriver not ready: ${e.message}`);
        await sleep(200);
      }
    }
  }

  async start(capabilities) {
    const value = await this.request("POST", "/session", { capabilities });
    this.session = value.sessionId;
  }

  async stop() {
    if (this.session) await this.request("DELETE", `/session/${this.session}`).catch(() => {});
    this.session = null;
  }

  s(path) {
    return `/session/${this.session}${path}`;
  }

  async find(css) {
    const v = await this.request("POST", this.s("/element"), { using: "css selector", value: css });
    return v[ELEMENT];
  }

  async findAll(css) {
    const v = await this.request("POST", this.s("/elements"), { using: "css selector", value: css });
    return v.map((e) => e[ELEMENT]);
  }

  /** Whether anything matches `css` now. */
  async exists(css) {
    return (await this.findAll(css)).length > 0;
  }

  /** Polls until `css` matches (and `predicate(text)` holds, if given); returns the element. */
  async waitFor(css, { timeoutMs = 10000, text } = {}) {
    const end = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      try {
        const el = await this.find(css);
        if (!text) return el;
        last = await this.text(el);
        if (typeof text === "string" ? last.includes(text) : text.test(last)) return el;
      } catch (e) {
        last = e.message;
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${css}${text ? ` with “${text}”` : ""}; last: ${last}`);
      await sleep(150);
    }
  }

  async click(css) {
    const el = await this.waitFor(css);
    await this.request("POST", this.s(`/element/${el}/click`), {});
  }

  async type(css, text) {
    const el = await this.waitFor(css);
    await this.request("POST", this.s(`/element/${el}/clear`), {});
    await this.request("POST", this.s(`/element/${el}/value`), { text });
  }

  /** Chooses `path` in a file input (no clear: file inputs refuse it). */
  async upload(css, path) {
    const el = await this.find(css);
    await this.request("POST", this.s(`/element/${el}/value`), { text: path });
  }

  async text(el) {
    return this.request("GET", this.s(`/element/${el}/text`));
  }

  async textOf(css) {
    return this.text(await this.waitFor(css));
  }

  async property(css, name) {
    const el = await this.waitFor(css);
    return this.request("GET", this.s(`/element/${el}/property/${name}`));
  }

  async windowHandles() {
    return this.request("GET", this.s("/window/handles"));
  }

  async windowHandle() {
    return this.request("GET", this.s("/window"));
  }

  async switchToWindow(handle) {
    return this.request("POST", this.s("/window"), { handle });
  }

  async closeWindow() {
    return this.request("DELETE", this.s("/window"));
  }

  async setWindowSize(width, height) {
    return this.request("POST", this.s("/window/rect"), { width, height });
  }

  async execute(script, args = []) {
    return this.request("POST", this.s("/execute/sync"), { script, args });
  }

  async screenshot() {
    // An older frame can come back right after a DOM change.
    await sleep(500);
    return Buffer.from(await this.request("GET", this.s("/screenshot")), "base64");
  }
}

/** Ends every process running `path` (with no arguments: a WebDriver session's app), politely
 *  first; returns once none is left. */
export async function endApp(path) {
  const running = () => {
    try {
      return execFileSync("pgrep", ["-x", "-f", path]).toString().trim().split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  for (const signal of ["SIGTERM", "SIGKILL"]) {
    for (const pid of running()) {
      try {
        process.kill(pid, signal);
      } catch {}
    }
    for (let i = 0; i < 50 && running().length > 0; i++) await sleep(100);
  }
}
