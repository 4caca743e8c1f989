#include "gapbench/sweep/results_run.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <iostream>
#include <utility>

#include "gapbench/build_info.hpp"
#include "gapbench/error.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/test_hook.hpp"

namespace gapbench {
namespace fs = std::filesystem;

namespace {

// A new directory under `root` named by the UTC time (with -2, -3, ... when taken).
fs::path timestamped_dir(const fs::path& root) {
  fs::path dir = root / utc_now_compact();
  for (int n = 2; fs::exists(dir); ++n) dir = root / fmt::format("{}-{}", utc_now_compact(), n);
  return dir;
}

}  // namespace

BackendRecord backend_record(const BackendSelection& selection) {
  const Backend& backend = *selection.backend;
  BackendRecord record{{{"name", backend.name()},
                        {"note", selection.note},
                        {"device", backend.description()},
                        {"versions", backend.versions()}},
                       {{"backend", backend.name()}, {"device", backend.description()}},
                       std::nullopt};
  const nlohmann::json& versions = record.meta.at("versions");
  if (versions.contains("threads") && versions.at("threads").is_string()) {
    record.threads = std::stoi(versions.at("threads").get<std::string>());
    record.resume["threads"] = *record.threads;
  }
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  record.resume["cuda_visible_devices"] =
      visible ? nlohmann::json(std::string(visible)) : nlohmann::json();
  return record;
}

nlohmann::json BackendRecord::meta_fields() const {
  nlohmann::json fields = {{"backend", meta}};
  if (threads) fields["threads"] = *threads;
  fields["cuda_visible_devices"] = resume.at("cuda_visible_devices");
  return fields;
}

nlohmann::json shard_to_json(const Shard& shard) {
  return {{"index", shard.index}, {"count", shard.count}, {"source", shard.source}};
}

namespace {

// The shard a resumed directory's meta.json stores, or none (an unsharded run).
std::optional<Shard> stored_shard(const fs::path& dir, const nlohmann::json& meta) {
  if (!meta.contains("shard")) return std::nullopt;
  const nlohmann::json& j = meta.at("shard");
  if (!j.is_object() || !j.value("index", nlohmann::json()).is_number_integer() ||
      !j.value("count", nlohmann::json()).is_number_integer()) {
    throw UsageError(fmt::format(
        "--resume: {}: \"shard\" is not an object with integer index and count",
        (dir / "meta.json").string()));
  }
  const Shard shard{j.at("index").get<std::int64_t>(), j.at("count").get<std::int64_t>(),
                    j.value("source", std::string("meta.json"))};
  if (shard.count < 1 || shard.count > kMaxShards || shard.index < 0 ||
      shard.index >= shard.count) {
    throw UsageError(fmt::format("--resume: {}: \"shard\" {}/{} is not a shard",
                                 (dir / "meta.json").string(), shard.index, shard.count));
  }
  return shard;
}

}  // namespace

std::optional<nlohmann::json> stored_meta(ResultsTarget& target, bool plan_flags_given) {
  if (target.shard && !target.out && !target.resume) {
    throw UsageError(fmt::format(
        "--shard: give --out OUT (shard {} of {} writes OUT/{}) or --resume a shard's directory",
        target.shard->index, target.shard->count, shard_dir_name(*target.shard)));
  }
  if (target.shard && target.out) *target.out /= shard_dir_name(*target.shard);
  if (!target.resume) return std::nullopt;
  if (target.out || target.force) {
    throw UsageError(fmt::format(
        "--resume: continues the {} in its own directory; drop --out/--force", target.kind));
  }
  if (is_dead_end(*target.resume)) {
    if (!plan_flags_given) {
      throw UsageError(fmt::format(
          "--resume: '{}' holds no results and no plan (its start stopped before the first row); "
          "give the {}'s flags with --resume to start it afresh there",
          target.resume->string(), target.kind));
    }
    std::cerr << fmt::format(
        "--resume: '{}' holds no results (its start stopped before the first row); starting "
        "the {} afresh there with the flags given\n",
        target.resume->string(), target.kind);
    target.out = std::exchange(target.resume, std::nullopt);
    return std::nullopt;
  }
  nlohmann::json meta = read_resume_meta(*target.resume, target.schema, target.kind);
  const std::optional<Shard> stored = stored_shard(*target.resume, meta);
  if (target.shard && !stored) {
    throw UsageError(fmt::format(
        "--shard: '{}' holds a whole {}, not a shard; drop --shard to resume it",
        target.resume->string(), target.kind));
  }
  if (target.shard && !(*target.shard == *stored)) {
    throw UsageError(fmt::format(
        "--shard: '{}' holds shard {} of {}, not {} of {}; resume it with --shard {}/{} or none",
        target.resume->string(), stored->index, stored->count, target.shard->index,
        target.shard->count, stored->index, stored->count));
  }
  if (!target.shard) target.shard = stored;
  return meta;
}

void refuse_other_plan(const fs::path& dir, bool same_plan, const nlohmann::json& given_plan,
                       const nlohmann::json& stored_plan, const std::string& reuse_hint) {
  if (same_plan) return;
  throw UsageError(fmt::format(
      "--resume: '{}' was made by a different plan (differs in: {}); give the same flags{}",
      dir.string(), plan_differences(given_plan, stored_plan), reuse_hint));
}

ResultsRun::ResultsRun(const ResultsTarget& target, std::optional<nlohmann::json> stored,
                       const nlohmann::json& plan, const RowsLayout& layout, bool with_values,
                       int points, std::int64_t keys, const nlohmann::json& meta_fields,
                       const nlohmann::json& resume_details)
    : m_target(target) {
  if (target.force && !target.out && !target.default_root) {
    throw UsageError("--force: replaces an --out directory; give --out");
  }
  if (stored) {
    m_results.emplace(ResultsDir::resume(*target.resume, layout, with_values, points, keys));
    m_meta = std::move(*stored);
    nlohmann::json details = resume_details;
    details["command"] = target.command_line;
    record_resume(m_meta, std::move(details));
    m_meta["plan_hash"] = plan_hash(m_meta.at("plan"));  // checked by read_resume_meta
    m_results->write_meta(m_meta);
  } else if (target.out || target.default_root) {
    m_meta = {{"schema", target.schema},
              {"rng", {{"layout", kRngLayout}, {"version", kRngLayoutVersion}}},
              {"command", target.command_line},
              {"build", build_info()},
              {"libraries", library_versions()},
              {"host", host_name()}};
    for (const auto& [key, value] : meta_fields.items()) m_meta[key] = value;
    if (target.shard) m_meta["shard"] = shard_to_json(*target.shard);
    m_meta["plan"] = plan;
    m_meta["plan_hash"] = plan_hash(plan);
    m_meta["started"] = utc_now_iso();
    m_meta["finished"] = nullptr;
    m_meta["status"] = "running";
    m_meta[target.count_key] = 0;
    m_meta["resumes"] = nlohmann::json::array();
    const fs::path dir = target.out ? *target.out : timestamped_dir(*target.default_root);
    m_results.emplace(ResultsDir::create(dir, target.force, layout, with_values, m_meta));
  }
}

void ResultsRun::finish(const std::string& status, std::int64_t count) {
  if (!m_results) return;
  test_pause_point("finish");
  m_meta["status"] = status;
  m_meta[m_target.count_key] = count;
  m_meta["finished"] = utc_now_iso();
  m_results->write_meta(m_meta);
}

int ResultsRun::run(const std::function<bool()>& work,
                    const std::function<std::int64_t()>& done) {
  bool interrupted = false;
  try {
    interrupted = work();
  } catch (const std::exception& e) {
    m_meta["error"] = e.what();
    // The first error is the one to report: recording it can fail too (a full disk), and that
    // second error must not replace it.
    try {
      finish("failed", done());
    } catch (const std::exception& second) {
      std::cerr << fmt::format("warning: could not record the failure in meta.json: {}\n",
                               second.what());
    }
    throw;
  }
  finish(interrupted ? "interrupted" : "complete", done());
  if (!interrupted) return 0;
  if (m_results) {
    const std::string dir = m_results->path().string();
    std::cerr << fmt::format("interrupted: {} {} kept in {}; continue with: {} --resume {}{}\n",
                             done(), m_target.count_key, dir, m_target.continue_command, dir,
                             m_target.continue_note);
  } else {
    std::cerr << fmt::format("interrupted after {} {}\n", done(), m_target.count_key);
  }
  return kExitInterrupted;
}

}  // namespace gapbench
