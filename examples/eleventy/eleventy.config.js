// A minimal Eleventy blog whose post carries its commentd comments (README.md).
// The shortcode and filters below read what `commentd export static` (or ../fetch-comments.py)
// wrote into `comments/` (_data/commentd.js: `export`), relative to this folder.
const fs = require("node:fs");
const path = require("node:path");

// The page's slug: its `commentd_slug`, else its URL without the outer slashes (embed.js's default).
function commentdSlug(data) {
  return String(data.commentd_slug || data.page.url).replace(/^\/+|\/+$/g, "");
}

// <export>/posts/<slug><suffix>, or null for a slug that would leave <export>/posts.
function exportFile(exportDir, slug, suffix) {
  const root = path.resolve(__dirname, exportDir, "posts");
  const file = path.resolve(root, slug + suffix);
  return file.startsWith(root + path.sep) ? file : null;
}

function readCounts(exportDir) {
  const file = path.resolve(__dirname, exportDir, "counts.json");
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
}

module.exports = function (eleventyConfig) {
  eleventyConfig.ignores.add("comments/**");
  eleventyConfig.ignores.add("README.md");

  // {% commentdThread %}: the fragment, as commentd wrote it (names escaped, bodies sanitised);
  // a shortcode's output is never parsed as a template, so a comment's "{{ }}" stays text.
  eleventyConfig.addShortcode("commentdThread", function () {
    const file = exportFile(this.ctx.commentd.export, commentdSlug(this.ctx), ".html");
    return file && fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  });
  eleventyConfig.addShortcode("commentdSlug", function () {
    return commentdSlug(this.ctx);
  });
  // {{ post.data | commentdCount(commentd) }}: approved comments, from counts.json.
  eleventyConfig.addFilter("commentdCount", function (data, commentd) {
    return readCounts(commentd.export)[commentdSlug(data)] || 0;
  });

  return { dir: { input: ".", includes: "_includes", data: "_data", output: "_site" } };
};
