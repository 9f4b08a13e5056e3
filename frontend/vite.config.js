// Bundles the viewer into hub/web/ui/static/ui/viewer/ (gitignored; `make frontend` builds it).
// Django serves it as static files under <STATIC_URL>ui/viewer/; the entry keeps a fixed name
// (viewer.js, viewer.css) so the template needs no manifest; chunks, workers and codec
// WebAssembly are hashed and found relative to the entry (base "./").
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  publicDir: false,
  // "error": the codecs' Node-only imports (fs, path, url) are externalized with a warning each
  logLevel: "error",
  build: {
    outDir: resolve(import.meta.dirname, "../hub/web/ui/static/ui/viewer"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      input: resolve(import.meta.dirname, "src/main.js"),
      output: {
        entryFileNames: "viewer.js",
        chunkFileNames: "chunks/[name]-[hash].js",
        assetFileNames: (asset) =>
          (asset.names || []).some((name) => name.endsWith(".css")) ? "viewer.css" : "assets/[name]-[hash][extname]",
      },
    },
  },
  worker: { format: "es" },
  optimizeDeps: {
    exclude: ["@cornerstonejs/dicom-image-loader"],
    include: ["dicom-parser"],
  },
});
