# frozen_string_literal: true

# commentd: a post's comments from `commentd export static`, for Jekyll templates.
#
#   {% commentd_thread %}          the fragment <export>/posts/<slug>.html, inserted as it is
#                                  (commentd escaped the names and sanitised the bodies; the
#                                  text is never run through Liquid, so a comment that types
#                                  "{% ... %}" stays text)
#   {{ page | commentd_slug }}     the page's slug: its `commentd_slug`, else its URL without
#                                  the outer slashes (what embed.js takes by default)
#   {{ post | commentd_count }}    its approved comments, from <export>/counts.json
#
# <export> is `commentd.export` in _config.yml (default "comments"), relative to the source.
# Plugins in _plugins run with `jekyll build` (not in --safe mode, as on GitHub Pages' own
# builder: there, build with GitHub Actions instead).
require "json"

module Commentd
  def self.export_dir(site)
    File.expand_path(site.config.dig("commentd", "export") || "comments", site.source)
  end

  def self.slug(page)
    (page["commentd_slug"] || page["url"]).to_s.gsub(%r{\A/+|/+\z}, "")
  end

  # The file of a slug, or nil for a slug that would leave <export>/posts.
  def self.file(site, slug, suffix)
    root = File.join(export_dir(site), "posts")
    path = File.expand_path(slug + suffix, root)
    path.start_with?("#{root}/") ? path : nil
  end

  def self.counts(site)
    path = File.join(export_dir(site), "counts.json")
    File.file?(path) ? JSON.parse(File.read(path, encoding: "UTF-8")) : {}
  end

  # {% commentd_thread %}
  class ThreadTag < Liquid::Tag
    def render(context)
      site = context.registers[:site]
      path = Commentd.file(site, Commentd.slug(context.registers[:page]), ".html")
      return "" unless path && File.file?(path)

      File.read(path, encoding: "UTF-8")
    end
  end

  # The filters commentd_slug and commentd_count.
  module Filters
    def commentd_slug(page)
      Commentd.slug(page)
    end

    def commentd_count(page)
      Commentd.counts(@context.registers[:site]).fetch(Commentd.slug(page), 0)
    end
  end
end

Liquid::Template.register_tag("commentd_thread", Commentd::ThreadTag)
Liquid::Template.register_filter(Commentd::Filters)
