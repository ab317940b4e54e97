# Reference small-sample inference for the arm effect of y ~ arm [+ terms] + (1 | team), REML:
# Satterthwaite df (lmerTest, Kuznetsova et al. 2017) and Kenward-Roger (pbkrtest, Halekoh &
# Hojsgaard 2014, through lmerTest::contest). Reads the data sets written by
# make_mixed_df_data.py; writes mixed_df_reference.csv. Run from the repository root:
#   Rscript tests/reference/mixed_df.R
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})

here <- "tests/reference"
datasets <- read.csv(file.path(here, "mixed_df_datasets.csv"), colClasses = "character")
# A tight optimum, so that the reference is not limited by lme4's default tolerance.
control <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                       check.conv.singular = "ignore")
fmt <- function(x) sprintf("%.17g", x)

rows <- list()
for (i in seq_len(nrow(datasets))) {
  name <- datasets$name[i]
  terms <- datasets$terms[i]
  data <- read.csv(file.path(here, paste0("mixed_df_", name, ".csv")))
  rhs <- if (nzchar(terms)) paste("arm +", terms) else "arm"
  formula <- as.formula(paste("y ~", rhs, "+ (1 | team)"))
  fit <- lmer(formula, data = data, REML = TRUE, control = control)
  vc <- as.data.frame(VarCorr(fit))
  L <- as.numeric(names(fixef(fit)) == "arm")
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    tab <- contest(fit, L, joint = FALSE, ddf = ddf)
    rows[[length(rows) + 1]] <- data.frame(
      name = name, method = tolower(sub("-", "_", ddf)),
      estimate = fmt(tab$Estimate), se = fmt(tab$`Std. Error`), df = fmt(tab$df),
      p_value = fmt(tab$`Pr(>|t|)`), var_between = fmt(vc$vcov[vc$grp == "team"]),
      var_within = fmt(vc$vcov[vc$grp == "Residual"]))
  }
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "mixed_df_reference.csv"), row.names = FALSE, quote = FALSE)
cat(sprintf("# %s; lme4 %s, lmerTest %s, pbkrtest %s\n", R.version.string,
            packageVersion("lme4"), packageVersion("lmerTest"), packageVersion("pbkrtest")))
print(out)
