// commentd's settings for the templates. COMMENTD_SERVICE overrides the service's public URL.
module.exports = {
  // embed.js and the no-script form's action come from it.
  service: (process.env.COMMENTD_SERVICE || "https://comments.example").replace(/\/+$/, ""),
  // Where `commentd export static` (or ../fetch-comments.py) wrote, relative to this folder.
  export: "comments",
};
