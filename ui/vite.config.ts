import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// Tauri serves the built files from ui/dist; `npm run dev` serves them for a browser. Two
// pages: the app (index.html) and the incoming-call popup (incoming.html), each loading only its
// own code — measured, one page per window starts faster than one page importing the other
// window's code on demand (each dynamic import is a round trip through the custom protocol).
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    target: "es2021",
    outDir: "dist",
    emptyOutDir: true,
    rollupOptions: { input: { main: "index.html", incoming: "incoming.html" } },
  },
});
