# Reference fits for the binary-outcome estimators (tests/test_binary_reference.py). Reads the
# data sets written by make_binary_data.py; writes binary_reference.csv, one row per data set
# and method:
#   glmm_agq10 / glmm_agq1: lme4::glmer(y ~ arm [+ terms] + (1 | team), binomial, nAGQ = 10 / 1),
#       ML; arm estimate and SE (vcov from lme4's Hessian), sigma_u, logLik;
#   gee_none: geepack::geeglm(..., family = binomial, corstr = "exchangeable"), arm estimate,
#       robust SE (san.se, uncorrected), alpha (rho) and gamma (scale);
#   gee_mancl_derouen / gee_kauermann_carroll: the same fit, sandwich recomputed here with
#       dense matrices, U_j = D_j' V_j^-1 (I - H_jj)^-k e_j, H_jj = D_j (sum D'V^-1 D)^-1 D_j' V_j^-1,
#       k = 1 (Mancl & DeRouen 2001) or 1/2 (Kauermann & Carroll 2001; principal square root);
#   cluster_t: t.test of team proportions by arm, var.equal = TRUE;
#   cluster_hm_difference: glm(y ~ terms, binomial) without arm, (O - E)/n per team, t.test
#       with K - 2 - (team-level terms) df.
# Run from the repository root:  Rscript tests/reference/binary.R
suppressPackageStartupMessages({
  library(lme4)
  library(geepack)
})

here <- "tests/reference"
datasets <- read.csv(file.path(here, "binary_datasets.csv"), colClasses = "character")
datasets$terms[is.na(datasets$terms)] <- ""
fmt <- function(x) sprintf("%.17g", x)
row <- function(name, method, estimate, se, df = NA, p = NA, sigma = NA, loglik = NA,
                alpha = NA, scale = NA) {
  data.frame(name = name, method = method, estimate = fmt(estimate), se = fmt(se),
             df = fmt(df), p_value = fmt(p), sigma = fmt(sigma), loglik = fmt(loglik),
             alpha = fmt(alpha), scale = fmt(scale))
}

glmm_rows <- function(name, formula, data) {
  out <- list()
  for (q in c(10, 1)) {
    fit <- glmer(formula, data = data, family = binomial, nAGQ = q,
                 control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10,
                                        optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                                        check.conv.singular = "ignore"))
    b <- fixef(fit)["arm"]
    se <- sqrt(diag(as.matrix(vcov(fit))))[names(fixef(fit)) == "arm"]
    out[[length(out) + 1]] <- row(name, paste0("glmm_agq", q), b, se,
                                  sigma = sqrt(as.numeric(VarCorr(fit)$team)),
                                  loglik = as.numeric(logLik(fit)))
  }
  out
}

sandwich_power <- function(fit, data, X, k) {
  mu <- fitted(fit)
  rho <- fit$geese$alpha
  A <- 0; pieces <- list()
  for (j in unique(data$team)) {
    i <- which(data$team == j)
    s <- sqrt(mu[i] * (1 - mu[i]))
    n <- length(i)
    R <- matrix(rho, n, n); diag(R) <- 1
    Vinv <- solve(diag(s, n) %*% R %*% diag(s, n))
    D <- (mu[i] * (1 - mu[i])) * X[i, , drop = FALSE]
    A <- A + t(D) %*% Vinv %*% D
    pieces[[length(pieces) + 1]] <- list(D = D, Vinv = Vinv, e = data$y[i] - mu[i], n = n)
  }
  Ainv <- solve(A)
  B <- 0
  for (pc in pieces) {
    H <- pc$D %*% Ainv %*% t(pc$D) %*% pc$Vinv
    ev <- eigen(diag(pc$n) - H)
    M <- Re(ev$vectors %*% diag(ev$values^(-k), pc$n) %*% solve(ev$vectors))
    U <- t(pc$D) %*% pc$Vinv %*% M %*% pc$e
    B <- B + U %*% t(U)
  }
  V <- Ainv %*% B %*% Ainv
  sqrt(V[2, 2])
}

gee_rows <- function(name, formula, data) {
  fit <- geeglm(formula, id = team, data = data, family = binomial, corstr = "exchangeable",
                control = geese.control(epsilon = 1e-12, maxit = 500))
  X <- model.matrix(formula, data)
  est <- coef(fit)["arm"]
  se <- summary(fit)$coefficients["arm", "Std.err"]
  list(row(name, "gee_none", est, se, alpha = fit$geese$alpha, scale = fit$geese$gamma),
       row(name, "gee_none_dense", est, sandwich_power(fit, data, X, 0)),
       row(name, "gee_mancl_derouen", est, sandwich_power(fit, data, X, 1)),
       row(name, "gee_kauermann_carroll", est, sandwich_power(fit, data, X, 0.5)))
}

t_row <- function(name, method, values, arm, df) {
  tt <- t.test(values[arm == 1], values[arm == 0], var.equal = TRUE)
  se <- tt$stderr
  est <- unname(tt$estimate[1] - tt$estimate[2])
  p <- 2 * pt(-abs(est / se), df)
  row(name, method, est, se, df = df, p = p)
}

cluster_rows <- function(name, terms, data) {
  teams <- sort(unique(data$team))
  arm <- sapply(teams, function(j) data$arm[data$team == j][1])
  prop <- sapply(teams, function(j) mean(data$y[data$team == j]))
  K <- length(teams)
  stage1 <- glm(as.formula(paste("y ~", if (nzchar(terms)) terms else "1")), data = data,
                family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))
  e <- fitted(stage1)
  resid <- sapply(teams, function(j) mean(data$y[data$team == j] - e[data$team == j]))
  team_level <- if (grepl("z", terms)) 1 else 0
  list(t_row(name, "cluster_t", prop, arm, K - 2),
       t_row(name, "cluster_hm_difference", resid, arm, K - 2 - team_level))
}

rows <- list()
for (i in seq_len(nrow(datasets))) {
  name <- datasets$name[i]
  terms <- datasets$terms[i]
  data <- read.csv(file.path(here, paste0("binary_", name, ".csv")))
  data <- data[order(data$team), ]
  rhs <- if (nzchar(terms)) paste("arm +", terms) else "arm"
  rows <- c(rows,
            glmm_rows(name, as.formula(paste("y ~", rhs, "+ (1 | team)")), data),
            gee_rows(name, as.formula(paste("y ~", rhs)), data),
            cluster_rows(name, terms, data))
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "binary_reference.csv"), row.names = FALSE, quote = FALSE)
cat(sprintf("# %s; lme4 %s, geepack %s\n", R.version.string, packageVersion("lme4"),
            packageVersion("geepack")))
print(out[, c("name", "method", "estimate", "se", "sigma", "alpha")])
